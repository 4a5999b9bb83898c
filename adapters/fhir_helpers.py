"""Small builders for R4 resource dicts in the gateway's conventions (``adapters.conventions``).

Adapters for different sources say the same things (a risk flag, an access item, a capacity
assessment, a care-team member, a sharing preference); building them here keeps the shape the
policy pack selects on identical whatever the source. Builders return plain dicts and drop empty
values, so callers can pass ``None`` for anything a source did not send.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from adapters.base import NHS_NUMBER_SYSTEM, ODS_SYSTEM, SNOMED, Json
from adapters.conventions import (
    BASE,
    CARE_TEAM_ROLE,
    CARE_TEAM_ROLES,
    CONSENT_POLICY,
    DATA_CATEGORY,
    EXT_ACCESS_VALUE,
    EXT_BEST_INTERESTS,
    EXT_DECISION,
    EXT_DETAIL,
    EXT_ENQUIRY_STATUS,
    EXT_PARTICIPANT_CONTACT,
    EXT_PARTICIPANT_TEAM,
    EXT_REASONING,
    FLAG_CATEGORY_HL7,
    FLAG_CATEGORY_LOCAL,
    ITEM_CAPACITY_ASSESSMENT,
    ITEM_DNACPR,
    LOCAL_ITEM,
    PURPOSE_OF_USE,
)

SNOMED_NOT_FOR_RESUSCITATION = "304253006"
LOINC = "http://loinc.org"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
# Encounter.class for visits at the person's home (district nursing, social-care assessments)
HOME_VISIT_CLASS = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH",
                    "display": "home health"}
# Capacity outcome codes (LOCAL_ITEM system), shared by every source so one selector finds both.
CAPACITY_OUTCOMES = {"HAS": "Has capacity", "LACKS": "Lacks capacity"}
# Staff-safety risk codes (LOCAL_ITEM system) every source uses for the risk-flag code
RISK_CODES = {"VIOL": "History of violence or aggression", "DOG": "Dangerous dog",
              "ENV": "Hazardous environment", "OXY": "Smoking near home oxygen",
              "WEAP": "Weapons in the home"}
# Relationship words sources use -> HL7 v3 RoleCode
RELATIONSHIP_CODES = {"daughter": ("DAU", "daughter"), "son": ("SON", "son"),
                      "spouse": ("SPS", "spouse"), "friend": ("FRND", "unrelated friend"),
                      "wife": ("WIFE", "wife"), "husband": ("HUSB", "husband"),
                      "partner": ("DOMPART", "domestic partner"), "sister": ("SIS", "sister"),
                      "brother": ("BRO", "brother"), "neighbour": ("NBOR", "neighbor")}


def local_id_system(owner: str, kind: str) -> str:
    """Identifier system for ids a source organisation assigns itself (person, worker, visit...)."""
    return f"{BASE}/Id/{quote(owner, safe='')}/{quote(kind, safe='')}"  # a uri has no spaces


def code_value(code: str) -> str:
    """R4 ``code``: no leading/trailing or repeated whitespace (sources are not that careful)."""
    return " ".join(code.split())


def compact(value: Any) -> Any:
    """Drop ``None``, empty strings, lists and dicts, recursively (R4 forbids empty elements)."""
    if isinstance(value, Mapping):
        out = {k: c for k, v in value.items() if (c := compact(v)) not in (None, "", [], {})}
        return out
    if isinstance(value, list):
        return [c for v in value if (c := compact(v)) not in (None, "", [], {})]
    return value


# --- datatypes ---------------------------------------------------------------------------------

def coding(system: str | None, code: str, display: str | None = None) -> Json:
    return compact({"system": system, "code": code_value(code), "display": display})


def concept(system: str | None, code: str | None, display: str | None = None,
            text: str | None = None) -> Json:
    codings = [coding(system, code, display)] if system and code else []
    return compact({"coding": codings, "text": text or (None if codings else display)})


def local_item(code: str, display: str | None = None, text: str | None = None) -> Json:
    return concept(LOCAL_ITEM, code, display, text)


def ref(resource_type: str, resource_id: str, display: str | None = None) -> Json:
    return compact({"reference": f"{resource_type}/{resource_id}", "display": display})


def org_ref(ods: str | None, display: str | None = None) -> Json | None:
    """A logical reference to an organisation by ODS code (no Organization resource needed)."""
    if not ods and not display:
        return None
    return compact({"type": "Organization", "identifier": {"system": ODS_SYSTEM, "value": ods},
                    "display": display})


def person_ref(system: str | None, value: str | None, display: str | None,
               resource_type: str = "Practitioner") -> Json | None:
    if not value and not display:
        return None
    ident = {"system": system, "value": value} if value else None
    return compact({"type": resource_type, "identifier": ident, "display": display})


def nhs_identifier(nhs_number: str) -> Json:
    return {"system": NHS_NUMBER_SYSTEM, "value": nhs_number}


def contact_points(phone: str | None = None, email: str | None = None, use: str = "work") -> list[Json]:
    """Phone / email ContactPoints; a UK mobile number (07...) is marked ``mobile``."""
    phone_use = "mobile" if phone and phone.replace(" ", "").startswith("07") else use
    points = [{"system": "phone", "value": phone, "use": phone_use} if phone else None,
              {"system": "email", "value": email, "use": use} if email else None]
    return [p for p in points if p]


def ext_string(url: str, value: str | None) -> Json | None:
    return {"url": url, "valueString": value} if value else None


def extensions(*items: Json | None) -> list[Json]:
    return [e for e in items if e]


def period(start: str | None = None, end: str | None = None) -> Json | None:
    return compact({"start": start, "end": end}) or None


def fhir_datetime(value: datetime) -> str:
    return value.isoformat()


def human_name(family: str | None, given: Iterable[str | None] = (), prefix: str | None = None,
               text: str | None = None) -> Json:
    return compact({"use": "official", "family": family, "given": [g for g in given if g],
                    "prefix": [prefix] if prefix else [], "text": text})


def split_name(full: str) -> Json:
    """'Ann Brook' -> family Brook, given Ann (sources that send one string)."""
    parts = full.split()
    if len(parts) < 2:
        return compact({"text": full})
    return compact({"family": parts[-1], "given": parts[:-1], "text": full})


def relationship(word: str | None, system: str | None = None, code: str | None = None) -> Json | None:
    """A RelatedPerson.relationship from a word ('daughter') or a source code."""
    if word and word.lower() in RELATIONSHIP_CODES:
        rc, display = RELATIONSHIP_CODES[word.lower()]
        return concept(ROLE_CODE, rc, display, text=word)
    if code:
        return concept(system, code, word)
    return concept(None, None, text=word) if word else None


# --- care team ---------------------------------------------------------------------------------

def participant(role: str, member: Json | None, *, on_behalf_of: Json | None = None,
                team: str | None = None, contacts: Iterable[Json] = (),
                start: str | None = None, end: str | None = None) -> Json:
    """A CareTeam.participant with a gateway care-team role, team and contact extensions.

    A role outside CARE_TEAM_ROLES is kept as text (reported, not dropped)."""
    role_concept = (concept(CARE_TEAM_ROLE, role, role.replace("-", " ")) if role in CARE_TEAM_ROLES
                    else concept(None, None, text=role))
    exts = [ext_string(EXT_PARTICIPANT_TEAM, team)]
    exts += [{"url": EXT_PARTICIPANT_CONTACT, "valueContactPoint": c} for c in contacts]
    return compact({"extension": extensions(*exts),
                    "role": [role_concept],
                    "member": member, "onBehalfOf": on_behalf_of, "period": period(start, end)})


def care_team(resource_id: str, patient_id: str, name: str, participants: list[Json],
              managing_ods: str | None = None, status: str = "active") -> Json:
    return compact({"resourceType": "CareTeam", "id": resource_id, "status": status, "name": name,
                    "subject": ref("Patient", patient_id), "participant": participants,
                    "managingOrganization": [org_ref(managing_ods)]})


# --- flags: risk, access, safeguarding ---------------------------------------------------------

def _flag(resource_id: str, patient_id: str, category: Json, code: Json, *,
          status: str, start: str | None, author: Json | None, exts: list[Json]) -> Json:
    return compact({"resourceType": "Flag", "id": resource_id, "extension": exts,
                    "status": status, "category": [category], "code": code,
                    "subject": ref("Patient", patient_id), "period": period(start),
                    "author": author})


def risk_flag(resource_id: str, patient_id: str, code: Json, *, detail: str | None = None,
              status: str = "active", start: str | None = None, author: Json | None = None) -> Json:
    """Staff-safety flag: the coded summary is `risk_flag`, the narrative (EXT_DETAIL) its `.detail`."""
    category = concept(FLAG_CATEGORY_HL7, "safety", "Safety")
    return _flag(resource_id, patient_id, category, code, status=status, start=start,
                 author=author, exts=extensions(ext_string(EXT_DETAIL, detail)))


def access_flag(resource_id: str, patient_id: str, item: str, display: str, value: str, *,
                status: str = "active", start: str | None = None, author: Json | None = None) -> Json:
    """Key-safe code / access instructions; the secret lives only in EXT_ACCESS_VALUE."""
    category = concept(FLAG_CATEGORY_LOCAL, "access", "Access")
    return _flag(resource_id, patient_id, category, local_item(item, display), status=status,
                 start=start, author=author, exts=extensions(ext_string(EXT_ACCESS_VALUE, value)))


def safeguarding_flag(resource_id: str, patient_id: str, code: Json, *, enquiry_status: str | None,
                      detail: str | None, status: str = "active", start: str | None = None,
                      author: Json | None = None) -> Json:
    category = concept(FLAG_CATEGORY_LOCAL, "safeguarding", "Safeguarding")
    exts = extensions({"url": EXT_ENQUIRY_STATUS, "valueCode": code_value(enquiry_status)}
                      if enquiry_status and enquiry_status.strip() else None,
                      ext_string(EXT_DETAIL, detail))
    return _flag(resource_id, patient_id, category, code, status=status, start=start,
                 author=author, exts=exts)


# --- observations ------------------------------------------------------------------------------

def observation(resource_id: str, patient_id: str, code: Json, *, status: str = "final",
                effective: str | None = None, performer: Json | None = None,
                encounter_id: str | None = None, value: Json | None = None,
                exts: list[Json] | None = None, note: str | None = None) -> Json:
    """An Observation; ``value`` is one ``value[x]`` entry, e.g. {"valueString": "..."}."""
    return compact({"resourceType": "Observation", "id": resource_id, "extension": exts or [],
                    "status": status, "code": code, "subject": ref("Patient", patient_id),
                    "encounter": ref("Encounter", encounter_id) if encounter_id else None,
                    "effectiveDateTime": effective, "performer": [performer],
                    **(value or {}), "note": [{"text": note}] if note else []})


def capacity_assessment(resource_id: str, patient_id: str, *, outcome: str | None,
                        decision: str | None, reasoning: str | None = None,
                        best_interests: str | None = None, assessor: Json | None = None,
                        effective: str | None = None, status: str = "final",
                        encounter_id: str | None = None) -> Json:
    """A Mental Capacity Act assessment, as an Observation (decision-specific, so one per decision).

    ``outcome`` is HAS / LACKS. The decision (EXT_DECISION), reasoning (EXT_REASONING) and
    best-interests decision (EXT_BEST_INTERESTS) are extensions so that policy can withhold the
    narrative (`capacity_assessment.reasoning`) while releasing the outcome.
    """
    value = ({"valueCodeableConcept": local_item(outcome, CAPACITY_OUTCOMES.get(outcome))}
             if outcome else None)
    exts = extensions(ext_string(EXT_DECISION, decision), ext_string(EXT_REASONING, reasoning),
                      ext_string(EXT_BEST_INTERESTS, best_interests))
    return observation(resource_id, patient_id,
                       local_item(ITEM_CAPACITY_ASSESSMENT, "Mental capacity assessment"),
                       status=status, effective=effective, performer=assessor,
                       encounter_id=encounter_id, value=value, exts=exts)


def dnacpr_code(in_place: bool) -> Json:
    codings = [coding(LOCAL_ITEM, ITEM_DNACPR, "DNACPR decision")]
    if in_place:  # the national code lets the advance_decisions category match on SNOMED too
        codings.append(coding(SNOMED, SNOMED_NOT_FOR_RESUSCITATION, "Not for resuscitation"))
    return {"coding": codings, "text": "DNACPR decision"}


# --- consent -----------------------------------------------------------------------------------

def consent(resource_id: str, *, patient: Json, policy: str, provision: Json,
            status: str = "active", recorded: str | None = None, performer: Json | None = None,
            organization: Json | None = None) -> Json:
    """A privacy Consent: ``policy`` is a CONSENT_POLICY code (sharing-preference / national-data-opt-out)."""
    return compact({"resourceType": "Consent", "id": resource_id, "status": status,
                    "scope": concept(CONSENT_SCOPE, "patient-privacy", "Privacy Consent"),
                    "category": [concept(LOINC, "59284-0", "Patient Consent")],
                    "patient": patient, "dateTime": recorded, "performer": [performer],
                    "organization": [organization],
                    "policyRule": concept(CONSENT_POLICY, policy), "provision": provision})


def sharing_provision(permit: bool, recipient_ods: str | None, category: str | None) -> Json:
    """Deny/permit sharing ``category`` (a gateway data category) with the recipient organisation."""
    actor = {"role": concept(PARTICIPATION_TYPE, "IRCP", "information recipient"),
             "reference": org_ref(recipient_ods)} if recipient_ods else None
    return compact({"type": "permit" if permit else "deny", "actor": [actor],
                    "securityLabel": [coding(DATA_CATEGORY, category)] if category else []})


def opt_out_provision(opted_out: bool) -> Json:
    return {"type": "deny" if opted_out else "permit",
            "purpose": [coding(PURPOSE_OF_USE, "HRESCH", "healthcare research"),
                        coding(PURPOSE_OF_USE, "HOPERAT", "healthcare operations")]}
