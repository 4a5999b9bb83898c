"""Person-level segments: PID -> Patient, PD1 -> registered GP care team, NK1 -> RelatedPerson
and contacts care team, AL1 -> AllergyIntolerance, DG1 -> Condition."""
from __future__ import annotations

from collections.abc import Iterator

from adapters.base import Json, MappedRecord
from adapters.community_hl7v2.context import Context, coded
from adapters.community_hl7v2.fields import FieldError, Seg
from adapters.conventions import CARE_TEAM_ROLE
from adapters.fhir_helpers import (
    care_team,
    compact,
    concept,
    contact_points,
    human_name,
    local_id_system,
    nhs_identifier,
    org_ref,
    participant,
    person_ref,
    ref,
    relationship,
)

GMP_SYSTEM = "https://fhir.hl7.org.uk/Id/gmp-number"  # GP national code (G + 7 digits)
_GENDERS = {"M": "male", "F": "female", "U": "unknown", "O": "other", "A": "other", "N": "unknown"}
_CONTACT_ROLES = {"NOK": "next-of-kin", "KH": "key-holder", "LPAHW": "lpa-health-and-welfare",
                  "LPAPF": "lpa-property-and-financial"}
_ALLERGY_CATEGORY = {"DA": "medication", "FA": "food", "EA": "environment", "MA": "environment"}
# Null flavours senders put in PD1-3 / PD1-4 instead of leaving them empty, and the national
# pseudo practice codes for "not known" / "not applicable" / "no registered GP practice".
_PLACEHOLDERS = {"U", "UNK", "UNKNOWN", "N/A", "NA", "NONE", "NULL", "-", "V81997", "V81998", "V81999"}
_NHS_AUTHORITIES = {"NHS", "NHSNUMBER", "NHS NUMBER", "NHSNBR"}
# XTN-2 telecommunication use code / XTN-3 equipment type -> FHIR ContactPoint use / system
_TELECOM_USE = {"PRN": "home", "ORN": "home", "VHN": "temp", "WPN": "work", "EMR": None, "ASN": None}
_TELECOM_SYSTEM = {"FX": "fax", "BP": "pager", "INTERNET": "email", "X.400": "email"}


def _nhs_number(value: str, authority: str, kind: str) -> str | None:
    """The NHS number a PID-3 repetition carries: type ``NH``, or as several trusts send it, type ``HN``
    or assigning authority ``NHS`` with a 10-digit value (anything else with those is kept as an id)."""
    digits = value.replace(" ", "")
    if kind == "NH":
        return digits
    if (kind == "HN" or authority.upper() in _NHS_AUTHORITIES) and len(digits) == 10 and digits.isdigit():
        return digits
    return None


def identifiers(pid: Seg, sender: str) -> tuple[str | None, str | None, list[Json]]:
    """PID-3 repeats -> (NHS number, local id, identifiers)."""
    nhs, local, found = None, None, []
    for rep in range(1, pid.repetitions(3) + 1):
        value, authority, kind = pid.get(3, 1, rep), pid.get(3, 4, rep), pid.get(3, 5, rep).upper()
        if not value:
            continue
        if (number := _nhs_number(value, authority, kind)) is not None:
            nhs = nhs or number
            found.append(nhs_identifier(number))
            continue
        if kind == "PI" and local is None:
            local = f"{authority or sender}:{value}"
        kind_name = "person" if kind == "PI" else (kind or "id").lower()
        found.append({"system": local_id_system(authority or sender, kind_name), "value": value})
    return nhs, local, found


def patient(ctx: Context, pid: Seg, pd1: Seg | None, ids: list[Json]) -> MappedRecord:
    sex = pid.get(8).upper()
    if sex and sex not in _GENDERS:
        raise FieldError(pid.where(8), f"{sex!r} is not an administrative sex (M/F/U/O/A/N)")
    resource = compact({
        "resourceType": "Patient", "id": ctx.patient_id, "identifier": ids,
        "name": [human_name(pid.get(5, 1), (pid.get(5, 2), pid.get(5, 3)), pid.get(5, 5) or None)],
        "telecom": telecoms(pid, 13, "home") + telecoms(pid, 14, "work"),
        "gender": _GENDERS.get(sex), "birthDate": pid.birth_date(7),
        **_deceased(pid),
        "address": [{"use": "home", "line": [pid.get(11, 1), pid.get(11, 2)],
                     "city": pid.get(11, 3), "district": pid.get(11, 4),
                     "postalCode": pid.get(11, 5)}],
        "generalPractitioner": [org_ref(*registered_practice(pd1))] if pd1 else [],
    })
    return ctx.record(resource, ctx.patient_key, "PID")


def _deceased(pid: Seg) -> Json:
    """PID-29 death date/time, else PID-30 death indicator (Y/N)."""
    when = pid.fhir_time(29)
    if when:
        return {"deceasedDateTime": when}
    indicator = pid.get(30).upper()
    if indicator in ("Y", "N"):
        return {"deceasedBoolean": indicator == "Y"}
    if indicator:
        raise FieldError(pid.where(30), f"{indicator!r} is not a death indicator (Y/N)")
    return {}


def telecoms(seg: Seg, field: int, default_use: str) -> list[Json]:
    """Every repetition of an XTN field (PID-13 home, PID-14 business) as a ContactPoint."""
    points: list[Json] = []
    for rep in range(1, seg.repetitions(field) + 1):
        use_code, equipment = seg.get(field, 2, rep).upper(), seg.get(field, 3, rep).upper()
        number = seg.get(field, 1, rep) or " ".join(p for p in (seg.get(field, 6, rep), seg.get(field, 7, rep)) if p)
        email = seg.get(field, 4, rep)
        system = "email" if email or use_code == "NET" else _TELECOM_SYSTEM.get(equipment, "phone")
        value = email or number if system == "email" else number
        if not value:
            continue
        mobile = system == "phone" and (equipment == "CP" or value.replace(" ", "").startswith("07"))
        use = "mobile" if mobile else _TELECOM_USE.get(use_code, default_use)
        points.append(compact({"system": system, "value": value, "use": use}))
    return points


def registered_practice(pd1: Seg | None) -> tuple[str | None, str | None]:
    """PD1-3 as (ODS code, name); a null flavour ("U", "UNKNOWN", the V8199x pseudo codes) is no practice."""
    if pd1 is None:
        return None, None
    ods = pd1.get(3, 3) or pd1.get(3, 10)  # XON-3 in v2.4; XON-10 organisation identifier from v2.5
    name = pd1.get(3, 1)
    return (None if not ods or ods.upper() in _PLACEHOLDERS else ods,
            None if not name or name.upper() in _PLACEHOLDERS else name)


def gp_team(ctx: Context, pd1: Seg) -> MappedRecord | None:
    practice_ods, practice_name = registered_practice(pd1)
    gp_name = " ".join(p for p in (pd1.get(4, 6), pd1.get(4, 3), pd1.get(4, 2)) if p) or None
    gp_code = pd1.get(4, 1) if pd1.get(4, 1).upper() not in _PLACEHOLDERS else ""
    maybe_members = [participant("registered-gp-practice", org_ref(practice_ods, practice_name))
                     if practice_ods or practice_name else None,
                     participant("usual-gp", person_ref(GMP_SYSTEM, gp_code or None, gp_name),
                                 on_behalf_of=org_ref(practice_ods, practice_name))
                     if gp_code or gp_name else None]
    members = [m for m in maybe_members if m]
    if not members:
        return None
    key = ctx.key("CareTeam", "registered-gp")
    team = care_team(ctx.id("CareTeam", key), ctx.patient_id, "Registered GP", members, ctx.source_system)
    return ctx.record(team, key, "PD1")


def contacts(ctx: Context, nk1s: list[Seg]) -> Iterator[MappedRecord]:
    """NK1s naming the same person (one per contact role) become one RelatedPerson."""
    people: dict[str, tuple[Seg, list[str]]] = {}
    for nk1 in nk1s:
        name = " ".join(p for p in (nk1.get(2, 2), nk1.get(2, 1)) if p)
        if not name:
            raise FieldError(nk1.where(2), "next of kin / contact has no name")
        role_code, role_text = nk1.get(7, 1).upper(), nk1.get(7, 2)
        role = _CONTACT_ROLES.get(role_code, role_text or role_code)
        people.setdefault(name.upper(), (nk1, []))[1].append(role)
    members: list[Json] = []
    for name_key, (nk1, roles) in people.items():
        key = ctx.key("RelatedPerson", name_key)
        rp_id = ctx.id("RelatedPerson", key)
        phones = contact_points(phone=nk1.get(5) or None, use="home")
        rel = relationship(nk1.get(3, 2) or None, None, nk1.get(3, 1) or None)
        role_concepts = [concept(CARE_TEAM_ROLE, r, r.replace("-", " ")) for r in roles if r]
        resource = compact({
            "resourceType": "RelatedPerson", "id": rp_id, "active": True,
            # roles first, as for the council's contacts
            "patient": ref("Patient", ctx.patient_id), "relationship": [*role_concepts, rel],
            "name": [human_name(nk1.get(2, 1), (nk1.get(2, 2), nk1.get(2, 3)))],
            "telecom": phones,
        })
        yield ctx.record(resource, key, nk1.label)
        display = " ".join(p for p in (nk1.get(2, 2), nk1.get(2, 1)) if p)
        members += [participant(r, ref("RelatedPerson", rp_id, display), contacts=phones)
                    for r in roles if r]
    if members:
        key = ctx.key("CareTeam", "contacts")
        team = care_team(ctx.id("CareTeam", key), ctx.patient_id, "Family and contacts", members,
                         ctx.source_system)
        yield ctx.record(team, key, "NK1")


def allergy(ctx: Context, al1: Seg) -> MappedRecord:
    code = coded(al1, 3)
    if code is None:
        raise FieldError(al1.where(3), "no allergen")
    key = ctx.key("AllergyIntolerance", al1.get(3, 1) or al1.get(3, 2))
    reaction = al1.text(5)
    resource = compact({
        "resourceType": "AllergyIntolerance", "id": ctx.id("AllergyIntolerance", key),
        "clinicalStatus": concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                  "active", "Active"),
        "category": [_ALLERGY_CATEGORY.get(al1.get(2, 1).upper())],
        "code": code, "patient": ref("Patient", ctx.patient_id),
        "recordedDate": al1.fhir_time(6),
        "reaction": [{"manifestation": [{"text": reaction}]}] if reaction else [],
    })
    return ctx.record(resource, key, al1.label)


def condition(ctx: Context, dg1: Seg) -> MappedRecord:
    code = coded(dg1, 3)
    if code is None:
        raise FieldError(dg1.where(3), "no diagnosis code or text")
    key = ctx.key("Condition", dg1.get(3, 1) or dg1.get(3, 2))
    resource = compact({
        "resourceType": "Condition", "id": ctx.id("Condition", key),
        "clinicalStatus": concept("http://terminology.hl7.org/CodeSystem/condition-clinical",
                                  "active", "Active"),
        "category": [concept("http://terminology.hl7.org/CodeSystem/condition-category",
                             "problem-list-item", "Problem List Item")],
        "code": code, "subject": ref("Patient", ctx.patient_id), "recordedDate": dg1.fhir_time(5),
    })
    return ctx.record(resource, key, dg1.label)
