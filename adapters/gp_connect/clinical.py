"""Problems and allergies: Condition and AllergyIntolerance.

Both changed the same way from STU3 to R4: ``clinicalStatus`` / ``verificationStatus`` became
CodeableConcepts (each resource with its own code systems) and ``assertedDate`` became
``recordedDate``. R4 also forbids a clinical status on an entered-in-error record (con-5, ait-2),
which STU3 senders sometimes still send: it is kept as unmapped content.
"""
from __future__ import annotations

from typing import Any

from adapters.gp_connect.common import code_to_concept, context_to_encounter, move_unmapped, rename
from adapters.gp_connect.fields import keep_unmapped, take

_TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
CONDITION_CLINICAL = _TERMINOLOGY + "condition-clinical"
CONDITION_VERIFICATION = _TERMINOLOGY + "condition-ver-status"
ALLERGY_CLINICAL = _TERMINOLOGY + "allergyintolerance-clinical"
ALLERGY_VERIFICATION = _TERMINOLOGY + "allergyintolerance-verification"


def _same(*codes: str) -> dict[str, str]:
    """Codes that STU3 and R4 spell alike."""
    return {c: c for c in codes}


CONDITION_CLINICAL_CODES = _same("active", "recurrence", "inactive", "remission", "resolved")
# STU3 "unknown" has no R4 code: R4's nearest is "unconfirmed" (the parent of provisional/differential).
CONDITION_VERIFICATION_CODES = {**_same("provisional", "differential", "confirmed", "refuted",
                                        "entered-in-error"), "unknown": "unconfirmed"}
ALLERGY_CLINICAL_CODES = _same("active", "inactive", "resolved")
ALLERGY_VERIFICATION_CODES = _same("unconfirmed", "confirmed", "refuted", "entered-in-error")


def _status_pair(resource: dict[str, Any], clinical: tuple[str, dict[str, str]],
                 verification: tuple[str, dict[str, str]]) -> None:
    """Both status codes -> CodeableConcepts, then R4's entered-in-error rule."""
    code_to_concept(resource, "clinicalStatus", clinical[0], clinical[1], "clinicalStatus")
    verified = code_to_concept(resource, "verificationStatus", verification[0], verification[1],
                               "verificationStatus")
    if verified == "entered-in-error" and "clinicalStatus" in resource:
        move_unmapped(resource, "clinicalStatus")


def map_condition(resource: dict[str, Any]) -> dict[str, Any]:
    _status_pair(resource, (CONDITION_CLINICAL, CONDITION_CLINICAL_CODES),
                 (CONDITION_VERIFICATION, CONDITION_VERIFICATION_CODES))
    context_to_encounter(resource)
    rename(resource, "assertedDate", "recordedDate")
    _abatement_boolean(resource)
    return resource


def _abatement_boolean(resource: dict[str, Any]) -> None:
    """R4 dropped ``abatementBoolean``; ``true`` is said as abatementString, and kept verbatim."""
    abated = take(resource, "abatementBoolean", bool)
    if abated is None:
        return
    keep_unmapped(resource, "abatementBoolean", abated)
    if abated and not any(k.startswith("abatement") for k in resource):
        resource["abatementString"] = "Abated (date not recorded)"


def map_allergy(resource: dict[str, Any]) -> dict[str, Any]:
    _status_pair(resource, (ALLERGY_CLINICAL, ALLERGY_CLINICAL_CODES),
                 (ALLERGY_VERIFICATION, ALLERGY_VERIFICATION_CODES))
    rename(resource, "assertedDate", "recordedDate")
    return resource
