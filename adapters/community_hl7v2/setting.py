"""Which setting a message describes, and the Encounter for a stay or attendance that is no caseload.

The same HL7 v2 events are sent by community systems and by hospitals. Only a community message
— PV1-2 patient class outpatient / recurring / not sent, *and* a community team (PV1-3 component 9
or a caseload ROL) — describes a district-nursing caseload, whose CareTeam the policy trusts as
a "legitimate relationship". Anything else (an inpatient ADT^A08 on a ward with an attending
doctor, a lab ORU^R01) becomes an Encounter of the class PV1-2 says, with its staff as encounter
participants: what happened, never an invented care relationship.
"""
from __future__ import annotations

from dataclasses import dataclass

from adapters.base import Json, MappedRecord
from adapters.community_hl7v2.context import Context
from adapters.community_hl7v2.fields import FieldError, Seg
from adapters.conventions import EXT_UNMAPPED
from adapters.fhir_helpers import compact, concept, ext_string, extensions, local_id_system, period, ref

COMMUNITY_CLASSES = {"", "O", "R"}  # PV1-2 of a caseload message (FORMATS: "O"); R = recurring patient
CASELOAD_ROLES = {"CASELOAD", "DN"}  # ROL-3 codes of a district-nursing caseload
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
# HL7 table 0004 patient class -> R4 Encounter.class (v3 ActCode)
_CLASSES = {"I": ("IMP", "inpatient encounter"), "B": ("IMP", "inpatient encounter"),
            "O": ("AMB", "ambulatory"), "R": ("AMB", "ambulatory"), "E": ("EMER", "emergency"),
            "P": ("PRENC", "pre-admission")}
# PV1 staff fields -> participant type (v3 ParticipationType)
_STAFF = ((7, "ATND", "attender"), (8, "REF", "referrer"), (9, "CON", "consultant"), (17, "ADM", "admitter"))


@dataclass(frozen=True)
class Setting:
    patient_class: str  # PV1-2, upper case ("" when there is no PV1 or it is empty)
    team: str  # the community team code (PV1-3.9, else a caseload ROL's ROL-10)
    community: bool  # a district-nursing caseload / home-visit message

    @property
    def described(self) -> str:
        return f"PV1-2 = {self.patient_class!r}" if self.patient_class else "no patient class"


def setting_of(pv1: Seg | None, rols: list[Seg]) -> Setting:
    patient_class = pv1.get(2).upper() if pv1 else ""
    caseload_rols = [r for r in rols if r.get(3, 1).upper() in CASELOAD_ROLES]
    team = (pv1.get(3, 9) if pv1 else "") or next((r.get(10) for r in caseload_rols if r.get(10)), "")
    community = patient_class in COMMUNITY_CLASSES and bool(team or caseload_rols)
    return Setting(patient_class, team, community)


def encounter_class(patient_class: str) -> Json:
    code = _CLASSES.get(patient_class)
    if code is None:  # N (not applicable), U (unknown), C (commercial) or absent: say so, do not guess
        return {"system": DATA_ABSENT_REASON, "code": "unknown", "display": "Unknown"}
    return {"system": ACT_CODE, "code": code[0], "display": code[1]}


def stay_key(ctx: Context, pv1: Seg) -> str:
    """What identifies a stay across its messages: PV1-19 visit number, else the admit time, else the message."""
    return ctx.key("Encounter", pv1.get(19) or (f"admitted:{pv1.get(44)}" if pv1.get(44) else
                                                  f"message:{ctx.message_id}"))


def stay(ctx: Context, event: str, pv1: Seg, rols: list[Seg], notes: list[str]) -> MappedRecord:
    """A hospital stay / attendance (or any PV1 that is no caseload) as an Encounter; ``notes``: NTEs
    that belong to no test, kept as unmapped text."""
    start, end = pv1.fhir_time(44), pv1.fhir_time(45)
    status = "finished" if end or event == "A03" else "planned" if event == "A05" else "in-progress"
    participants = [compact({"type": [concept(PARTICIPATION_TYPE, code, display)], "individual": person})
                    for field, code, display in _STAFF if (person := ctx.xcn(pv1, field))]
    for rol in rols:
        person = ctx.xcn(rol, 4)
        if person is None:
            raise FieldError(rol.where(4), "role without a person")
        participants.append(compact({"type": [concept(None, None, text=rol.get(3, 2) or rol.get(3, 1) or "role")],
                                     "individual": person, "period": period(rol.fhir_time(5), rol.fhir_time(6))}))
    place = ", ".join(p for p in (pv1.get(3, 1), pv1.get(3, 2), pv1.get(3, 3), pv1.get(3, 4)) if p)
    key = stay_key(ctx, pv1)
    resource = compact({
        "resourceType": "Encounter", "id": ctx.id("Encounter", key),
        "extension": extensions(ext_string(EXT_UNMAPPED, "\n".join(n for n in notes if n) or None)),
        "identifier": [{"system": local_id_system(ctx.source_system, "visit"), "value": pv1.get(19)}]
        if pv1.get(19) else [],
        "status": status, "class": encounter_class(pv1.get(2).upper()),
        "serviceType": concept(None, None, text=pv1.get(10)) if pv1.get(10) else None,
        "subject": ref("Patient", ctx.patient_id), "participant": participants,
        "period": period(start, end), "serviceProvider": ctx.sender,
        "location": [{"location": {"display": place}}] if place else [],
    })
    return ctx.record(resource, key, pv1.label)
