"""STU3 -> R4 renames that apply anywhere in a resource: code-system URLs and extension URLs.

Both are visitors for :func:`adapters.gp_connect.walk.visit_objects`.

*Code systems.* R4 moved HL7's own code systems from ``http://hl7.org/fhir/<name>`` to
``http://terminology.hl7.org/CodeSystem/<name>`` (v2 tables ``v2-0203``, v3 ``v3-ActCode``). A
coding that keeps the STU3 URL silently stops matching any R4 value set, so it is renamed.

*Extensions.* CareConnect (STU3) extensions that UK Core (R4) re-publishes are renamed to the UK
Core URL; the value is kept as sent (for the renamed extensions below the value type is the same).
Extensions with no UK Core equivalent (e.g. GP Connect RegistrationDetails) are kept unchanged:
an extension is legal R4 whatever its URL.
"""
from __future__ import annotations

from typing import Any

_HL7_STU3 = "http://hl7.org/fhir/"
_HL7_R4 = "http://terminology.hl7.org/CodeSystem/"

# HL7 code systems (STU3 short name == R4 CodeSystem id unless mapped here) that R4 moved to
# terminology.hl7.org. Only these are renamed: most http://hl7.org/fhir/<x> URLs (e.g. the
# required bindings such as administrative-gender, or identifier systems under /sid/) keep their URL.
_MOVED_CODE_SYSTEMS: dict[str, str] = {
    "allergy-clinical-status": "allergyintolerance-clinical",
    "allergy-verification-status": "allergyintolerance-verification",
    "condition-clinical": "condition-clinical",
    "condition-ver-status": "condition-ver-status",
    "condition-category": "condition-category",
    "observation-category": "observation-category",
    "list-empty-reason": "list-empty-reason",
    "list-order": "list-order",
    "list-example-codes": "list-example-codes",
    "medication-statement-category": "medication-statement-category",
    "medication-request-category": "medicationrequest-category",
    "immunization-origin": "immunization-origin",
    "reason-medication-not-given": "reason-medication-not-given",
    "reason-medication-given": "reason-medication-given",
    "data-absent-reason": "data-absent-reason",
    "referencerange-meaning": "referencerange-meaning",
    "observation-statistics": "observation-statistics",
    "practitioner-role": "practitioner-role",
    "organization-type": "organization-type",
    "encounter-type": "encounter-type",
    "diagnosis-role": "diagnosis-role",
}

# CareConnect / GP Connect STU3 extension name (between "Extension-CareConnect-[GPC-]" and
# "-1") -> UK Core extension name.
_UK_CORE_EXTENSIONS: dict[str, str] = {
    "EthnicCategory": "EthnicCategory",
    "ResidentialStatus": "ResidentialStatus",
    "NHSCommunication": "NHSCommunication",
    "NHSNumberVerificationStatus": "NHSNumberVerificationStatus",
    "DeathNotificationStatus": "DeathNotificationStatus",
    "AllergyIntoleranceEnd": "AllergyIntoleranceEnd",
    "MedicationStatementLastIssueDate": "MedicationStatementLastIssueDate",
    "MedicationRepeatInformation": "MedicationRepeatInformation",
    "PrescribingAgency": "MedicationPrescribingAgency",
    "PrescriptionType": "PrescriptionType",
    "ProblemSignificance": "ProblemSignificance",
    "RelatedProblemHeader": "RelatedProblemHeader",
    "ActualProblem": "ActualProblem",
    "RelatedClinicalContent": "RelatedClinicalContent",
    "VaccinationProcedure": "VaccinationProcedure",
    "ParentPresent": "ParentPresent",
}
_CARECONNECT_PREFIXES = (
    "https://fhir.hl7.org.uk/STU3/StructureDefinition/Extension-CareConnect-GPC-",
    "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-CareConnect-GPC-",
    "https://fhir.hl7.org.uk/STU3/StructureDefinition/Extension-CareConnect-",
    "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-CareConnect-",
)
UK_CORE_EXTENSION_BASE = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-"


def r4_code_system(system: str) -> str:
    """The R4 URL of an STU3 code-system URL (unchanged when R4 did not move it)."""
    if not system.startswith(_HL7_STU3):
        return system
    name = system[len(_HL7_STU3):]
    if name.startswith(("v2/", "v3/")):  # http://hl7.org/fhir/v2/0203 -> .../v2-0203
        return _HL7_R4 + name.replace("/", "-", 1)
    moved = _MOVED_CODE_SYSTEMS.get(name)
    return _HL7_R4 + moved if moved else system


def careconnect_extension_name(url: str) -> str | None:
    """``EthnicCategory`` for a CareConnect(-GPC) extension URL, else None."""
    for prefix in _CARECONNECT_PREFIXES:
        if url.startswith(prefix):
            name = url[len(prefix):]
            return name[:-2] if name.endswith("-1") else name
    return None


def r4_extension_url(url: str) -> str:
    """The UK Core URL for a CareConnect extension that has one; otherwise ``url`` unchanged."""
    name = careconnect_extension_name(url)
    if name is None or name not in _UK_CORE_EXTENSIONS:
        return url
    return UK_CORE_EXTENSION_BASE + _UK_CORE_EXTENSIONS[name]


def rename_code_system(obj: dict[str, Any]) -> None:
    """Visitor: a Coding (or Quantity/Identifier - harmless) whose system R4 moved."""
    system = obj.get("system")
    if isinstance(system, str) and "code" in obj:
        obj["system"] = r4_code_system(system)


def rename_extension_urls(obj: dict[str, Any]) -> None:
    """Visitor: CareConnect extension URLs in ``extension`` / ``modifierExtension`` arrays."""
    for key in ("extension", "modifierExtension"):
        extensions = obj.get(key)
        if not isinstance(extensions, list):
            continue
        for ext in extensions:
            if isinstance(ext, dict) and isinstance(ext.get("url"), str):
                ext["url"] = r4_extension_url(ext["url"])
