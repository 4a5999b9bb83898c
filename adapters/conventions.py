"""How the gateway represents what R4 / UK Core has no slot for.

Adapters write these; the policy pack (``consent_policies/categories.yaml``) selects on them.
Keep the two in step: a category or field group in the policy files names these URLs and codes.
"""
from __future__ import annotations

BASE = "https://fhir.care-gateway.example"

# Local item codes for things sources send without a national code (HL7 OBX-3 `L` codes,
# social-care sections). System for Observation.code / Flag.code / CarePlan.category ...
LOCAL_ITEM = f"{BASE}/CodeSystem/local-item"
# Care-team roles (CareTeam.participant.role)
CARE_TEAM_ROLE = f"{BASE}/CodeSystem/care-team-role"
CARE_TEAM_ROLES = (
    "registered-gp-practice", "usual-gp", "caseload-holder", "district-nurse",
    "district-nursing-team", "allocated-social-worker", "social-care-team",
    "home-care-provider", "next-of-kin", "key-holder", "lpa-health-and-welfare",
    "lpa-property-and-financial",
)
# Gateway data categories (Consent.provision.securityLabel, meta.tag on redacted copies)
DATA_CATEGORY = f"{BASE}/CodeSystem/data-category"
# Flag categories beyond http://terminology.hl7.org/CodeSystem/flag-category (`safety` is used as is)
FLAG_CATEGORY_LOCAL = f"{BASE}/CodeSystem/flag-category"  # codes: access, safeguarding
FLAG_CATEGORY_HL7 = "http://terminology.hl7.org/CodeSystem/flag-category"

# Warnings a GP system puts on its record (GP Connect List warning codes: confidential items excluded,
# record in transit, awaiting filing), as meta.tag on the stored List; surfaced to callers as notices.
RECORD_WARNING_SYSTEM = f"{BASE}/CodeSystem/gp-record-warning"

# Separately selectable narrative parts (field groups, docs/policy.md)
EXT_DETAIL = f"{BASE}/StructureDefinition/detail"  # valueString: risk flag / safeguarding narrative
EXT_REASONING = f"{BASE}/StructureDefinition/capacity-reasoning"  # valueString
EXT_BEST_INTERESTS = f"{BASE}/StructureDefinition/best-interests-decision"  # valueString
EXT_DECISION = f"{BASE}/StructureDefinition/capacity-decision"  # valueString: decision assessed
EXT_ENQUIRY_STATUS = f"{BASE}/StructureDefinition/safeguarding-status"  # valueCode
EXT_ACCESS_VALUE = f"{BASE}/StructureDefinition/access-value"  # valueString: key-safe code / instructions
EXT_PARTICIPANT_CONTACT = f"{BASE}/StructureDefinition/participant-contact"  # valueContactPoint (repeats)
EXT_PARTICIPANT_TEAM = f"{BASE}/StructureDefinition/participant-team"  # valueString team code
EXT_SOURCE_SECTION = f"{BASE}/StructureDefinition/source-section"  # valueString: e.g. "CaseNotes"
EXT_UNMAPPED = f"{BASE}/StructureDefinition/unmapped-source-content"  # valueString: kept, not dropped

# Consent conventions
CONSENT_POLICY = f"{BASE}/CodeSystem/consent-policy"  # codes: sharing-preference, national-data-opt-out
PURPOSE_OF_USE = "http://terminology.hl7.org/CodeSystem/v3-ActReason"

# Local item codes (LOCAL_ITEM system) used by the adapters
ITEM_CAPACITY_ASSESSMENT = "MCA"
ITEM_DNACPR = "DNACPR"
ITEM_KEYSAFE = "KEYSAFE"
ITEM_ACCESS = "ACCESS"
ITEM_SAFEGUARDING = "SAFEGUARDING"
ITEM_CASE_NOTE = "CASENOTE"
ITEM_CARE_PACKAGE = "CAREPACKAGE"
ITEM_WATERLOW = "WATERLOW"
ITEM_WOUND = "WOUND"
ITEM_VISIT = "VISIT"
