"""What every mapped item of one HL7 message shares: who sent it, when, and whose record it is."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.base import SNOMED, MappedRecord, stable_id
from adapters.community_hl7v2.fields import Seg
from adapters.conventions import LOCAL_ITEM
from adapters.fhir_helpers import (
    LOINC,
    coding,
    compact,
    local_id_system,
    org_ref,
    person_ref,
)

# HL7 coding-system names (CE component 3) -> FHIR systems; others keep the code without a system.
CODING_SYSTEMS = {"L": LOCAL_ITEM, "99LOCAL": LOCAL_ITEM, "SCT": SNOMED, "SNM": SNOMED,
                  "LN": LOINC, "I10": "http://hl7.org/fhir/sid/icd-10"}


def coded(seg: Seg, field: int, rep: int = 1) -> dict[str, Any] | None:
    """A CE/CWE ``CODE^TEXT^SYSTEM`` as a CodeableConcept (None when empty)."""
    code, text, system = (seg.get(field, c, rep) for c in (1, 2, 3))
    if not code and not text:
        return None
    coding_ = coding(CODING_SYSTEMS.get(system.upper()), code, text or None) if code else None
    return compact({"coding": [coding_], "text": text or code})


@dataclass(frozen=True)
class Context:
    source_system: str  # MSH-4: the sending trust's ODS code
    number: int  # position of the message in its file
    message_id: str  # MSH-10
    updated: datetime | None  # MSH-7: the sender's "as at" time for everything in the message
    patient_key: str
    nhs_number: str | None

    def key(self, *parts: str) -> str:
        return "|".join((self.patient_key, *parts))

    def id(self, resource_type: str, key: str) -> str:
        return stable_id(self.source_system, resource_type, key)

    @property
    def patient_id(self) -> str:
        return self.id("Patient", self.patient_key)

    def record(self, resource: dict[str, Any], key: str, segment: str,
               hints: dict[str, Any] | None = None) -> MappedRecord:
        return MappedRecord(resource=resource, source_system=self.source_system, source_id=key,
                            source_updated=self.updated, patient_nhs_number=self.nhs_number,
                            location=f"message {self.number}, {segment}", hints=hints or {})

    def staff(self, code: str, family: str = "", given: str = "") -> dict[str, Any] | None:
        """A nurse / observer (XCN ``CODE^FAMILY^GIVEN``) as a logical Practitioner reference."""
        name = " ".join(p for p in (given, family) if p) or None
        return person_ref(local_id_system(self.source_system, "staff"), code or None, name)

    def xcn(self, seg: Seg, field: int) -> dict[str, Any] | None:
        return self.staff(seg.get(field, 1), seg.get(field, 2), seg.get(field, 3))

    @property
    def sender(self) -> dict[str, Any] | None:
        return org_ref(self.source_system)
