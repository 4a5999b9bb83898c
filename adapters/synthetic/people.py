"""Invented people with consistent facts across GP, community nursing and social care.

Everything is made up from small word lists and a seeded RNG: the same seed gives the same
people, byte for byte, so tests, the demo and benchmarks can rely on it.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date

from adapters import nhs_number

FAMILY = ("Brook", "Ellis", "Okafor", "Shah", "Novak", "Hughes", "Patel", "Morgan", "Clarke",
          "Ahmed", "Walsh", "Kowalski", "Bennett", "Osei", "Fletcher", "Lund", "Reyes", "Doyle")
GIVEN_F = ("Edith", "Ann", "Grace", "Amara", "Irene", "Maryam", "Joan", "Priya", "Elsie", "Nadia")
GIVEN_M = ("Arthur", "Tom", "Kwame", "Stanley", "Ravi", "Dennis", "Jan", "Harold", "Samuel", "Idris")
STREETS = ("Canal Row", "Mill Lane", "Beech Grove", "Station Road", "Church Street", "Park View")
TOWNS = (("Ancoats", "M4"), ("Levenshulme", "M19"), ("Gorton", "M18"), ("Hulme", "M15"))
PRACTICES = (("P81001", "Beech Surgery"), ("P81002", "Canal Street Medical Centre"),
             ("P81003", "Northside Health Centre"))
GPS = (("G8211456", "Okafor", "Ngozi"), ("G8211457", "Lund", "Peter"), ("G8211458", "Reyes", "Maria"))
NURSING_TEAMS = (("DN-ANC", "N4471", "Shah", "Priya"), ("DN-GOR", "N4472", "Walsh", "Ciara"))
SOCIAL_WORKERS = (("ASC-NORTH", "W-1", "Tom Ellis", "0161 555 0199"),
                  ("ASC-SOUTH", "W-2", "Asha Patel", "0161 555 0198"))
_POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # the letters a postcode's inward code may use
COMMUNITY_TRUST = "RX1"  # ODS of the community trust (HL7 MSH-4)
COUNCIL = "C8Q2R"  # ODS of the council (CaseRecordExport/@council)
CARE_PROVIDERS = (("VNX12", "Northside Care Ltd"), ("VNX13", "Canal Homecare"))


@dataclass(frozen=True)
class Person:
    index: int
    nhs_number: str
    family: str
    given: str
    title: str
    gender: str  # "female" / "male"
    birth_date: date
    address_line: str
    town: str
    postcode: str
    phone: str
    practice_ods: str
    practice_name: str
    gp: tuple[str, str, str]  # (code, family, given)
    nursing_team: tuple[str, str, str, str]  # (team, nurse code, family, given)
    social_worker: tuple[str, str, str, str]  # (team, worker id, name, phone)
    care_provider: tuple[str, str]  # (ODS, name)
    relative_given: str
    relative_relationship: str  # daughter / son / spouse / friend
    # what the person's record holds (realistic proportions, decided by the seed)
    conditions: tuple[str, ...] = field(default=())  # SNOMED codes
    risk_flag: str | None = None  # VIOL / DOG / ENV / OXY / WEAP
    lacks_capacity: bool | None = None  # None: no assessment
    safeguarding: bool = False
    dnacpr: bool = False
    objects_to_gp_seeing_case_notes: bool = False
    opted_out: bool = False


COMMON_CONDITIONS = ("38341003", "44054006", "195967001", "13645005", "49436004", "396275006")
SENSITIVE_CONDITIONS = ("35489007", "58214004", "13746004", "86406008", "105629000")
CONDITION_NAMES = {
    "38341003": "Hypertensive disorder", "44054006": "Type 2 diabetes mellitus",
    "195967001": "Asthma", "13645005": "Chronic obstructive lung disease",
    "49436004": "Atrial fibrillation", "396275006": "Osteoarthritis",
    "35489007": "Depressive disorder", "58214004": "Schizophrenia", "13746004": "Bipolar disorder",
    "86406008": "Human immunodeficiency virus infection", "105629000": "Chlamydial infection",
    "304253006": "Not for resuscitation",
}


def invent_people(n: int, seed: int = 1) -> list[Person]:
    rng = random.Random(seed)
    people: list[Person] = []
    seen: set[str] = set()
    for i in range(n):
        number = nhs_number.invent(rng)
        while number in seen:
            number = nhs_number.invent(rng)
        seen.add(number)
        female = rng.random() < 0.55
        town, district = rng.choice(TOWNS)
        conditions = tuple(rng.sample(COMMON_CONDITIONS, rng.randint(1, 3)))
        if rng.random() < 0.2:
            conditions += (rng.choice(SENSITIVE_CONDITIONS),)
        people.append(Person(
            index=i,
            nhs_number=number,
            family=rng.choice(FAMILY),
            given=rng.choice(GIVEN_F if female else GIVEN_M),
            title=rng.choice(("Mrs", "Ms", "Miss")) if female else "Mr",
            gender="female" if female else "male",
            birth_date=date(rng.randint(1925, 1960), rng.randint(1, 12), rng.randint(1, 28)),
            address_line=f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
            town=town,
            postcode=f"{district} {rng.randint(1, 9)}{rng.choice(_POSTCODE_LETTERS)}{rng.choice(_POSTCODE_LETTERS)}",
            phone=f"0161 555 {rng.randint(0, 9999):04d}",
            practice_ods=(practice := rng.choice(PRACTICES))[0],
            practice_name=practice[1],
            gp=GPS[PRACTICES.index(practice)],
            nursing_team=rng.choice(NURSING_TEAMS),
            social_worker=rng.choice(SOCIAL_WORKERS),
            care_provider=rng.choice(CARE_PROVIDERS),
            relative_given=rng.choice(GIVEN_F + GIVEN_M),
            relative_relationship=rng.choice(("daughter", "son", "spouse", "friend")),
            conditions=conditions,
            risk_flag=rng.choice(("VIOL", "DOG", "ENV", "OXY", "WEAP")) if rng.random() < 0.3 else None,
            lacks_capacity=(rng.random() < 0.5) if rng.random() < 0.35 else None,
            safeguarding=rng.random() < 0.1,
            dnacpr=rng.random() < 0.15,
            objects_to_gp_seeing_case_notes=rng.random() < 0.1,
            opted_out=rng.random() < 0.05,
        ))
    return people
