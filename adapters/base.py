"""The one small protocol every adapter implements.

``parse`` splits raw bytes into source messages (a GP Connect Bundle, one HL7 v2 message, one
XML export, one CSV row...). ``map`` turns one message into FHIR R4 resource dicts. Either may
report a problem as a :class:`Rejected` item naming where and which field, so the pipeline can
quarantine exactly that part and keep the rest: nothing a source sends is lost.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
SDS_USER_SYSTEM = "https://fhir.nhs.uk/Id/sds-user-id"
SNOMED = "http://snomed.info/sct"

# Namespace for deterministic resource ids: (source system, type, source id) -> same id forever,
# so re-sending a message updates rather than duplicates (docs/architecture.md, invariant 6).
_ID_NAMESPACE = uuid.UUID("6f1c2a56-3d0e-4b7a-9a59-7c3d2f0e8b11")

Json = dict[str, Any]  # a FHIR resource (or part of one) as a plain dict
# A time a source sends without an offset is local time in England (GMT/BST).
LOCAL_ZONE = ZoneInfo("Europe/London")


def stable_id(source_system: str, resource_type: str, source_id: str) -> str:
    """The gateway id of a resource that a source knows as ``source_id``."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{source_system}|{resource_type}|{source_id}"))


@dataclass(frozen=True)
class SourceMessage:
    """One unit of a source export, as parsed: what the pipeline maps and, if need be, quarantines."""

    format: str
    origin: str  # file path (or "http") plus position, e.g. "dn.hl7#message 3"
    raw: bytes  # the exact bytes this message came from (kept in quarantine when it fails)
    body: Any  # the parsed form the adapter's map() understands (dict, hl7 Message, XML element...)
    source_system: str = ""
    message_id: str | None = None  # e.g. MSH-10; used for idempotence / ordering reports
    message_time: datetime | None = None


@dataclass(frozen=True)
class MappedRecord:
    """One FHIR R4 resource produced from a source item.

    ``resource`` already has its ``id`` (from :func:`stable_id`) and references between
    resources of the same message use those ids. ``patient_nhs_number`` is the NHS number of the
    person the item is about, as the source gave it (unchecked: matching is the pipeline's job).
    """

    resource: dict[str, Any]
    source_system: str
    source_id: str
    source_updated: datetime | None = None
    patient_nhs_number: str | None = None
    location: str = ""  # JSON pointer / segment / element path inside the message
    hints: dict[str, Any] = field(default_factory=dict)  # e.g. {"section": "Alerts"} for labelling


@dataclass(frozen=True)
class Rejected:
    """A part of a message the adapter could not map. The pipeline quarantines it with this reason."""

    location: str  # e.g. "entry[3].resource.clinicalStatus", "PID-7", "/CaseRecordExport/Alerts/Alert[2]/@updated"
    reason: str
    raw: bytes = b""
    resource_type: str = ""  # the R4 type the item would have become, when known (the ingest report counts by it)


class LocatedError(Exception):
    """Something in the input that cannot be read, and where it is (a field, element path, column...)."""

    def __init__(self, location: str, reason: str) -> None:
        super().__init__(f"{location}: {reason}")
        self.location = location
        self.reason = reason


class AdapterError(LocatedError):
    """The whole input could not be parsed (not FHIR, not HL7, broken XML...)."""


@runtime_checkable
class Adapter(Protocol):
    format: str  # the --format name, e.g. "gp-connect"
    version: str  # goes into Provenance

    def parse(self, raw: bytes, origin: str) -> Iterator[SourceMessage | Rejected]: ...

    def map(self, message: SourceMessage) -> Iterable[MappedRecord | Rejected]: ...
