"""Invented GP records as GP Connect Access Record: Structured responses (FHIR STU3 Bundles).

Deterministic: the RNG is seeded from the person, so the same person always gives the same
Bundle, byte for byte. Shape follows docs/formats.md, GP Connect (CareConnect-GPC profiles, clinical areas as
Lists with the GP Connect list codes). Medicines and vaccines carry a synthetic local code (never
a guessed dm+d code); conditions, observations and list codes are real SNOMED CT codes.
"""
from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from adapters.base import NHS_NUMBER_SYSTEM, ODS_SYSTEM, SDS_USER_SYSTEM, SNOMED
from adapters.conventions import BASE
from adapters.synthetic.people import COMMUNITY_TRUST, CONDITION_NAMES, Person

RECORD_TIME = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)  # when the synthetic record was fetched
STU3 = "https://fhir.nhs.uk/STU3/StructureDefinition/"
CC_STU3 = "https://fhir.hl7.org.uk/STU3/StructureDefinition/"
SYNTHETIC_MEDICATION = f"{BASE}/CodeSystem/synthetic-medication"
SYNTHETIC_VACCINE = f"{BASE}/CodeSystem/synthetic-vaccine"
UCUM = "http://unitsofmeasure.org"

# GP Connect clinical-area Lists (docs/formats.md, GP Connect).
LIST_MEDICATIONS = ("933361000000108", "Medications and medical devices")
LIST_ALLERGIES = ("886921000000105", "Allergies and adverse reactions")
LIST_ENDED_ALLERGIES = ("1103671000000101", "Ended allergies")
LIST_PROBLEMS = ("717711000000103", "Problems")
LIST_IMMUNISATIONS = ("1102181000000102", "Immunisations")
LIST_CONSULTATIONS = ("1149501000000101", "Consultations")
LIST_INVESTIGATIONS = ("887191000000108", "Investigations and results")
LIST_REFERRALS = ("792931000000107", "Outbound referrals")
LIST_UNCATEGORISED = ("826501000000100", "Uncategorised data")
LIST_DIARY = ("714311000000108", "Diary entries")

# A plausible medicine for each condition: (synthetic code, name, dosage text).
MEDICINES = {
    "38341003": ("AMLO5", "Amlodipine 5mg tablets", "One tablet once a day"),
    "44054006": ("METF500", "Metformin 500mg tablets", "One tablet twice a day with food"),
    "195967001": ("SALB100", "Salbutamol 100micrograms/dose inhaler", "Two puffs when required"),
    "13645005": ("TIOT18", "Tiotropium 18microgram inhalation powder capsules", "Inhale one capsule daily"),
    "49436004": ("APIX5", "Apixaban 5mg tablets", "One tablet twice a day"),
    "396275006": ("PARA500", "Paracetamol 500mg tablets", "Two tablets up to four times a day"),
    "35489007": ("SERT50", "Sertraline 50mg tablets", "One tablet once a day"),
    "58214004": ("OLAN10", "Olanzapine 10mg tablets", "One tablet at night"),
    "13746004": ("LITH400", "Lithium carbonate 400mg modified-release tablets", "One tablet at night"),
    "86406008": ("ARV1", "Antiretroviral combination tablets", "One tablet once a day"),
    "105629000": ("DOXY100", "Doxycycline 100mg capsules", "One capsule twice a day for 7 days"),
}
ALLERGIES = (("91936005", "Allergy to penicillin", "Rash"), ("300916003", "Latex allergy", "Urticaria"),
             ("91935009", "Allergy to peanuts", "Swelling of lips"))
VACCINES = (("FLU", "Influenza vaccine", "86198006", "Influenza vaccination"),
            ("PPV", "Pneumococcal polysaccharide vaccine", "12866006", "Pneumococcal vaccination"))
DNACPR = ("304253006", "Not for resuscitation")


@dataclass
class _Record:
    """The Bundle being built: entries in order and, per clinical area, the items listed there."""

    person: Person
    rng: random.Random
    entries: list[dict[str, Any]] = field(default_factory=list)
    lists: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def add(self, resource: dict[str, Any], area: tuple[str, str] | None = None) -> str:
        """Add a resource; return its reference. ``area`` lists it under a clinical-area List."""
        resource = {"resourceType": resource.pop("resourceType"), "id": self.new_id(), **resource}
        self.entries.append({"resource": resource})
        reference = f"{resource['resourceType']}/{resource['id']}"
        if area is not None:
            self.lists.setdefault(area, []).append(reference)
        return reference

    def days_ago(self, low: int, high: int) -> datetime:
        return RECORD_TIME - timedelta(days=self.rng.randint(low, high), minutes=self.rng.randint(0, 600))


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _meta(profile: str, updated: datetime) -> dict[str, Any]:
    return {"profile": [profile], "lastUpdated": _instant(updated)}


def _ref(reference: str, display: str | None = None) -> dict[str, Any]:
    return {"reference": reference, **({"display": display} if display else {})}


def _sct(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": display}


@dataclass(frozen=True)
class _People:
    """References the clinical items point at."""

    patient: str
    practice: str
    gp: str


def gp_connect_bundle(person: Person, *, extra_items: int = 0) -> dict[str, Any]:
    """A GP Connect structured-record Bundle for ``person`` (about 40 resources plus ``extra_items``
    further uncategorised observations, to pad a record to benchmark size)."""
    record = _Record(person, random.Random(f"gp-connect|{person.nhs_number}|{person.index}"))
    who = _administrative(record)
    problems = _problems(record, who)
    _allergies(record, who)
    _medicines(record, who, problems)
    _immunisations(record, who)
    consultation = _consultations(record, who, problems)
    _investigations(record, who)
    _referral(record, who, consultation)
    _uncategorised(record, who, extra_items)
    _diary(record, who)
    _lists(record, who)
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"gp-connect:{person.nhs_number}")),
        "meta": {"profile": [f"{STU3}GPConnect-StructuredRecord-Bundle-1"], "lastUpdated": _instant(RECORD_TIME)},
        "type": "collection",
        "entry": record.entries,
    }


def _administrative(record: _Record) -> _People:
    p = record.person
    practice = record.add({
        "resourceType": "Organization",
        "meta": _meta(f"{STU3}CareConnect-GPC-Organization-1", RECORD_TIME - timedelta(days=400)),
        "identifier": [{"system": ODS_SYSTEM, "value": p.practice_ods}],
        "name": p.practice_name,
        "telecom": [{"system": "phone", "value": f"0161 496 {1000 + int(p.practice_ods[-3:]):04d}", "use": "work"}],
        "address": [{"use": "work", "line": ["1 Surgery Lane"], "city": "Manchester", "postalCode": "M1 1AA"}],
    })
    code, family, given = p.gp
    gp = record.add({
        "resourceType": "Practitioner",
        "meta": _meta(f"{STU3}CareConnect-GPC-Practitioner-1", RECORD_TIME - timedelta(days=400)),
        "identifier": [{"system": SDS_USER_SYSTEM, "value": code}],
        "name": [{"use": "usual", "family": family, "given": [given], "prefix": ["Dr"]}],
        "gender": "unknown",
    })
    record.add({
        "resourceType": "PractitionerRole",
        "meta": _meta(f"{STU3}CareConnect-GPC-PractitionerRole-1", RECORD_TIME - timedelta(days=400)),
        "practitioner": _ref(gp), "organization": _ref(practice),
        "code": [{"coding": [{"system": "https://fhir.nhs.uk/STU3/CodeSystem/CareConnect-SDSJobRoleName-1",
                              "code": "R0260", "display": "General Medical Practitioner"}]}],
        "telecom": [{"system": "phone", "value": f"0161 496 {2000 + int(code[-3:]):04d}", "use": "work"}],
    })
    patient = record.add(_patient(record, practice, gp))
    return _People(patient, practice, gp)


def _patient(record: _Record, practice: str, gp: str) -> dict[str, Any]:
    p = record.person
    registered = date(max(p.birth_date.year + 18, 1990), p.birth_date.month, p.birth_date.day)
    return {
        "resourceType": "Patient",
        "meta": _meta(f"{STU3}CareConnect-GPC-Patient-1", RECORD_TIME - timedelta(days=30)),
        "extension": [{
            "url": f"{STU3}Extension-CareConnect-GPC-RegistrationDetails-1",
            "extension": [{"url": "registrationPeriod", "valuePeriod": {"start": registered.isoformat()}},
                          {"url": "registrationType", "valueCodeableConcept": {"coding": [{
                              "system": "https://fhir.nhs.uk/STU3/CodeSystem/CareConnect-RegistrationType-1",
                              "code": "R", "display": "Regular"}]}}],
        }],
        "identifier": [{
            "extension": [{"url": f"{CC_STU3}Extension-CareConnect-NHSNumberVerificationStatus-1",
                           "valueCodeableConcept": {"coding": [{
                               "system": "https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-NHSNumberVerificationStatus-1",
                               "code": "01", "display": "Number present and verified"}]}}],
            "system": NHS_NUMBER_SYSTEM, "value": p.nhs_number,
        }],
        "active": True,
        "name": [{"use": "official", "family": p.family, "given": [p.given], "prefix": [p.title]}],
        "telecom": [{"system": "phone", "value": p.phone, "use": "home"}],
        "gender": p.gender,
        "birthDate": p.birth_date.isoformat(),
        "address": [{"use": "home", "line": [p.address_line], "city": p.town, "postalCode": p.postcode}],
        # docs/formats.md, GP Connect: the registered practice is generalPractitioner; the usual GP is listed too.
        "generalPractitioner": [_ref(practice, p.practice_name), _ref(gp, f"Dr {p.gp[2]} {p.gp[1]}")],
        "managingOrganization": _ref(practice),
    }


def _problems(record: _Record, who: _People) -> dict[str, str]:
    """One problem per condition; returns SNOMED code -> Condition reference."""
    problems = {}
    for code in record.person.conditions:
        onset = record.days_ago(200, 6000)
        problems[code] = record.add({
            "resourceType": "Condition",
            "meta": _meta(f"{CC_STU3}CareConnect-GPC-ProblemHeader-Condition-1", onset),
            "extension": [{"url": f"{STU3}Extension-CareConnect-GPC-ProblemSignificance-1",
                           "valueCode": record.rng.choice(("major", "minor"))}],
            "clinicalStatus": "active",
            "verificationStatus": "confirmed",
            "category": [{"coding": [{"system": "http://hl7.org/fhir/condition-category",
                                      "code": "problem-list-item", "display": "Problem List Item"}]}],
            "code": _sct(code, CONDITION_NAMES[code]),
            "subject": _ref(who.patient),
            "onsetDateTime": onset.date().isoformat(),
            "assertedDate": _instant(onset),
            "asserter": _ref(who.gp),
        }, LIST_PROBLEMS)
    return problems


def _allergies(record: _Record, who: _People) -> None:
    if record.rng.random() < 0.6:
        # "No known allergies" is information: the empty List says so (built in _lists).
        record.lists.setdefault(LIST_ALLERGIES, [])
        return
    for code, name, reaction in record.rng.sample(ALLERGIES, record.rng.randint(1, 2)):
        asserted = record.days_ago(300, 5000)
        record.add({
            "resourceType": "AllergyIntolerance",
            "meta": _meta(f"{CC_STU3}CareConnect-GPC-AllergyIntolerance-1", asserted),
            "clinicalStatus": "active",
            "verificationStatus": "confirmed",
            "category": ["food" if "peanut" in name else "medication" if "penicillin" in name else "environment"],
            "code": _sct(code, name),
            "patient": _ref(who.patient),
            "assertedDate": _instant(asserted),
            "recorder": _ref(who.gp),
            "reaction": [{"manifestation": [{"text": reaction}], "severity": "moderate"}],
        }, LIST_ALLERGIES)


def _medicines(record: _Record, who: _People, problems: dict[str, str]) -> None:
    for condition, problem in problems.items():
        if condition not in MEDICINES:
            continue
        code, name, dose = MEDICINES[condition]
        started = record.days_ago(60, 3000)
        medication = record.add({
            "resourceType": "Medication",
            "meta": _meta(f"{CC_STU3}CareConnect-GPC-Medication-1", started),
            "code": {"coding": [{"system": SYNTHETIC_MEDICATION, "code": code, "display": name}], "text": name},
        })
        plan = record.add({
            "resourceType": "MedicationRequest",
            "meta": _meta(f"{CC_STU3}CareConnect-GPC-MedicationRequest-1", started),
            "extension": [{"url": f"{CC_STU3}Extension-CareConnect-GPC-PrescriptionType-1",
                           "valueCodeableConcept": {"coding": [{
                               "system": "https://fhir.nhs.uk/STU3/CodeSystem/CareConnect-PrescriptionType-1",
                               "code": "repeat", "display": "Repeat"}]}}],
            "status": "active", "intent": "plan",
            "medicationReference": _ref(medication),
            "subject": _ref(who.patient),
            "authoredOn": _instant(started),
            "requester": {"agent": _ref(who.gp), "onBehalfOf": _ref(who.practice)},
            "reasonReference": [_ref(problem)],
            "dosageInstruction": [{"text": dose, "doseQuantity": {"value": 1, "unit": "dose"}}],
            "dispenseRequest": {"validityPeriod": {"start": started.date().isoformat()},
                                "quantity": {"value": 56, "unit": "tablet"},
                                "expectedSupplyDuration": {"value": 28, "unit": "day", "system": UCUM,
                                                           "code": "d"}},
        })
        record.add({
            "resourceType": "MedicationStatement",
            "meta": _meta(f"{CC_STU3}CareConnect-GPC-MedicationStatement-1", started),
            "extension": [{"url": f"{CC_STU3}Extension-CareConnect-GPC-MedicationStatementLastIssueDate-1",
                           "valueDateTime": _instant(record.days_ago(1, 50))}],
            "basedOn": [_ref(plan)],
            "status": "active",
            "medicationReference": _ref(medication),
            "effectivePeriod": {"start": started.date().isoformat()},
            "dateAsserted": _instant(started),
            "subject": _ref(who.patient),
            "taken": "y",
            "dosage": [{"text": dose}],
        }, LIST_MEDICATIONS)


def _immunisations(record: _Record, who: _People) -> None:
    for code, name, procedure, procedure_name in VACCINES:
        given = record.days_ago(30, 900)
        declined = record.rng.random() < 0.15
        immunization: dict[str, Any] = {
            "resourceType": "Immunization",
            "meta": _meta(f"{CC_STU3}CareConnect-GPC-Immunization-1", given),
            "extension": [
                {"url": f"{CC_STU3}Extension-CareConnect-GPC-VaccinationProcedure-1",
                 "valueCodeableConcept": _sct(procedure, procedure_name)},
                {"url": f"{CC_STU3}Extension-CareConnect-GPC-DateRecorded-1", "valueDateTime": _instant(given)},
            ],
            "status": "completed",
            "notGiven": declined,
            "vaccineCode": {"coding": [{"system": SYNTHETIC_VACCINE, "code": code, "display": name}], "text": name},
            "patient": _ref(who.patient),
            "date": _instant(given),
            "primarySource": True,
            "practitioner": [{"actor": _ref(who.gp)}],
        }
        if declined:
            immunization["explanation"] = {"reasonNotGiven": [{"text": "Patient declined"}]}
        else:
            immunization["lotNumber"] = f"LOT{record.rng.randint(10000, 99999)}"
            immunization["vaccinationProtocol"] = [{"doseSequence": 1, "targetDisease": [{"text": name}],
                                                    "doseStatus": {"text": "Counts"}}]
        record.add(immunization, LIST_IMMUNISATIONS)


def _consultations(record: _Record, who: _People, problems: dict[str, str]) -> str:
    """A few surgery consultations, each with a blood pressure; returns the latest one."""
    latest = ""
    for days in sorted((record.rng.randint(10, 700) for _ in range(record.rng.randint(2, 3))), reverse=True):
        start = RECORD_TIME - timedelta(days=days, hours=2)
        code = record.rng.choice(list(problems))
        latest = record.add({
            "resourceType": "Encounter",
            "meta": _meta(f"{CC_STU3}CareConnect-GPC-Encounter-1", start),
            "status": "finished",
            "type": [{"text": "Surgery consultation"}],
            "subject": _ref(who.patient),
            "participant": [{"individual": _ref(who.gp)}],
            "period": {"start": _instant(start), "end": _instant(start + timedelta(minutes=12))},
            "reason": [_sct(code, CONDITION_NAMES[code])],
            "serviceProvider": _ref(who.practice),
        }, LIST_CONSULTATIONS)
        _blood_pressure(record, who, start, encounter=latest)
    return latest


def _blood_pressure(record: _Record, who: _People, when: datetime, encounter: str | None = None,
                    area: tuple[str, str] | None = None) -> None:
    systolic, diastolic = record.rng.randint(112, 165), record.rng.randint(65, 98)
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "meta": _meta(f"{CC_STU3}CareConnect-GPC-Observation-1", when),
        "status": "final",
        "code": _sct("75367002", "Blood pressure"),
        "subject": _ref(who.patient),
        "effectiveDateTime": _instant(when),
        "performer": [_ref(who.gp)],
        "comment": "Seated, left arm.",
        "component": [
            {"code": _sct("271649006", "Systolic blood pressure"),
             "valueQuantity": {"value": systolic, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"}},
            {"code": _sct("271650006", "Diastolic blood pressure"),
             "valueQuantity": {"value": diastolic, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"}},
        ],
    }
    if encounter:
        observation["context"] = _ref(encounter)
    record.add(observation, area)


def _investigations(record: _Record, who: _People) -> None:
    taken = record.days_ago(20, 200)
    specimen = record.add({
        "resourceType": "Specimen",
        "meta": _meta(f"{CC_STU3}CareConnect-GPC-Specimen-1", taken),
        "status": "available",
        "type": _sct("119297000", "Blood specimen"),
        "subject": _ref(who.patient),
        "collection": {"collectedDateTime": _instant(taken)},
    })
    result = record.add({
        "resourceType": "Observation",
        "meta": _meta(f"{CC_STU3}CareConnect-GPC-Observation-1", taken),
        "status": "final",
        "category": [{"coding": [{"system": "http://hl7.org/fhir/observation-category", "code": "laboratory"}]}],
        "code": _sct("43396009", "Haemoglobin A1c level"),
        "subject": _ref(who.patient),
        "effectiveDateTime": _instant(taken),
        "valueQuantity": {"value": record.rng.randint(38, 70), "unit": "mmol/mol", "system": UCUM,
                          "code": "mmol/mol"},
        "interpretation": {"coding": [{"system": "http://hl7.org/fhir/v2/0078", "code": "N", "display": "Normal"}]},
        "specimen": _ref(specimen),
    })
    record.add({
        "resourceType": "DiagnosticReport",
        "meta": _meta(f"{CC_STU3}CareConnect-GPC-DiagnosticReport-1", taken),
        "status": "final",
        "category": {"coding": [{"system": "http://hl7.org/fhir/v2/0074", "code": "CH", "display": "Chemistry"}]},
        "code": _sct("15220000", "Laboratory test"),
        "subject": _ref(who.patient),
        "issued": _instant(taken + timedelta(days=1)),
        "performer": [{"actor": _ref(who.practice)}],
        "specimen": [_ref(specimen)],
        "result": [_ref(result)],
    }, LIST_INVESTIGATIONS)


def _referral(record: _Record, who: _People, consultation: str) -> None:
    service = record.add({
        "resourceType": "Organization",
        "meta": _meta(f"{STU3}CareConnect-GPC-Organization-1", RECORD_TIME - timedelta(days=400)),
        "identifier": [{"system": ODS_SYSTEM, "value": COMMUNITY_TRUST}],
        "name": "Community Physiotherapy Service",
    })
    sent = record.days_ago(5, 120)
    record.add({
        "resourceType": "ReferralRequest",
        "meta": _meta(f"{CC_STU3}CareConnect-GPC-ReferralRequest-1", sent),
        "status": "active", "intent": "order", "priority": "routine",
        "serviceRequested": [{"text": "Physiotherapy"}],
        "subject": _ref(who.patient),
        "context": _ref(consultation),
        "authoredOn": _instant(sent),
        "requester": {"agent": _ref(who.gp), "onBehalfOf": _ref(who.practice)},
        "recipient": [_ref(service)],
        "description": "Reduced mobility; please assess for a home exercise programme.",
    }, LIST_REFERRALS)


def _uncategorised(record: _Record, who: _People, extra_items: int) -> None:
    if record.person.dnacpr:
        when = record.days_ago(10, 400)
        record.add({
            "resourceType": "Observation",
            "meta": _meta(f"{CC_STU3}CareConnect-GPC-Observation-1", when),
            "status": "final",
            "code": _sct(*DNACPR),
            "subject": _ref(who.patient),
            "effectiveDateTime": _instant(when),
            "performer": [_ref(who.gp)],
            "comment": "DNACPR form completed with the patient and family; copy held at home.",
        }, LIST_UNCATEGORISED)
    for _ in range(extra_items):
        _blood_pressure(record, who, record.days_ago(1, 3650), area=LIST_UNCATEGORISED)


def _diary(record: _Record, who: _People) -> None:
    due = RECORD_TIME + timedelta(days=record.rng.randint(20, 90))
    record.add({
        "resourceType": "ProcedureRequest",
        "meta": _meta(f"{CC_STU3}CareConnect-GPC-ProcedureRequest-1", RECORD_TIME - timedelta(days=3)),
        "status": "active", "intent": "plan",
        "code": {"text": "Annual medication review"},
        "subject": _ref(who.patient),
        "occurrenceDateTime": due.date().isoformat(),
        "authoredOn": _instant(RECORD_TIME - timedelta(days=3)),
        "requester": {"agent": _ref(who.gp)},
    }, LIST_DIARY)


def _lists(record: _Record, who: _People) -> None:
    for (code, title), items in record.lists.items():
        clinical_list: dict[str, Any] = {
            "resourceType": "List",
            "meta": _meta(f"{CC_STU3}CareConnect-GPC-List-1", RECORD_TIME),
            "status": "current", "mode": "snapshot", "title": title,
            "code": _sct(code, title),
            "subject": _ref(who.patient),
            "date": _instant(RECORD_TIME),
            "orderedBy": {"coding": [{"system": "http://hl7.org/fhir/list-order", "code": "event-date",
                                      "display": "Sorted by Event Date"}]},
        }
        if items:
            clinical_list["entry"] = [{"item": _ref(item)} for item in items]
        else:
            clinical_list["emptyReason"] = {"coding": [{"system": "http://hl7.org/fhir/list-empty-reason",
                                                        "code": "nilknown", "display": "Nil Known"}],
                                            "text": "No known allergies"}
            clinical_list["note"] = [{"text": "No known allergies"}]
        record.add(clinical_list)


def write_gp_connect(out_dir: Path, people: Iterable[Person]) -> list[Path]:
    """One GP Connect JSON file per person, named by NHS number."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for person in people:
        path = out_dir / f"gp-connect-{person.nhs_number}.json"
        path.write_bytes(orjson.dumps(gp_connect_bundle(person), option=orjson.OPT_INDENT_2) + b"\n")
        written.append(path)
    return written
