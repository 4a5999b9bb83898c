"""``--format gp-connect``: a GP Connect Access Record Structured Bundle (FHIR STU3) -> R4 resources."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson

from adapters.base import AdapterError, MappedRecord, Rejected, SourceMessage
from adapters.gp_connect.care_team import build_care_team
from adapters.gp_connect.convert import convert_entry
from adapters.gp_connect.decode import MAX_BYTES, MAX_DEPTH, check_bundle, decode_bundle
from adapters.gp_connect.fields import MappingError
from adapters.gp_connect.index import R4_TYPE_OF, BundleIndex, IndexedEntry, build_index, entry_location
from adapters.gp_connect.lists import HINT_RECORD_INCOMPLETE, tagged_warnings, warning_codes

FORMAT = "gp-connect"


class GpConnectAdapter:
    """Parses one Bundle per input and maps each entry to one R4 resource (plus the GP CareTeam).

    ``parse`` and ``map`` raise :class:`AdapterError` only for the whole input (not FHIR, not a
    Bundle, no Patient, no registered practice); a bad entry becomes a :class:`Rejected` and the
    others are still mapped.
    """

    format = FORMAT
    version = "gp-connect-stu3-to-r4/1.1.0"

    def __init__(self, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> None:
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    def parse(self, raw: bytes, origin: str) -> Iterator[SourceMessage | Rejected]:
        bundle = decode_bundle(raw, max_bytes=self.max_bytes, max_depth=self.max_depth)
        index = build_index(bundle)
        bundle_id = bundle.get("id")
        message = SourceMessage(
            format=FORMAT, origin=origin, raw=raw, body=bundle, source_system=index.source_system,
            message_id=bundle_id if isinstance(bundle_id, str) else None,
            message_time=_bundle_time(bundle),
        )
        return iter([message])

    def map(self, message: SourceMessage) -> Iterator[MappedRecord | Rejected]:
        # Whole-bundle problems surface here, at the call, not halfway through iteration.
        check_bundle(message.body)
        index = build_index(message.body)
        return self._records(index)

    def _records(self, index: BundleIndex) -> Iterator[MappedRecord | Rejected]:
        for problem in index.unindexable:
            yield Rejected(location=problem.location, reason=problem.reason, raw=problem.raw,
                           resource_type=_entry_type(index.bundle["entry"][problem.index]))
        for entry in index.entries:
            yield self._map_entry(entry, index)
        yield self._record(build_care_team(index), index, source_id=f"CareTeam/registered-gp|{index.patient.source_id}",
                           location=entry_location(index.patient.index, "generalPractitioner"),
                           updated=_instant(_last_updated(index.patient.resource)), hints={"derived": True})

    def _map_entry(self, entry: IndexedEntry, index: BundleIndex) -> MappedRecord | Rejected:
        raw = orjson.dumps(index.bundle["entry"][entry.index])
        try:
            resource, unresolved = convert_entry(entry, index)
        except MappingError as exc:
            return Rejected(location=entry_location(entry.index, exc.location), reason=exc.reason, raw=raw,
                            resource_type=entry.r4_type)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            # A shape no mapper anticipated: this entry is quarantined, the others still flow.
            return Rejected(location=entry.location, reason=f"unexpected structure ({type(exc).__name__}: {exc})",
                            raw=raw, resource_type=entry.r4_type)
        hints: dict[str, Any] = {"stu3_type": entry.stu3_type, **index.sections.get(entry.index, {})}
        if unresolved:
            hints["unresolved_references"] = unresolved
        # The List's own warnings; the Patient carries every List's, so "this GP record is incomplete"
        # is known wherever the person's record is read.
        warnings = tagged_warnings(resource) if entry.stu3_type == "List" else \
            _record_warnings(index) if entry is index.patient else []
        if warnings:
            hints[HINT_RECORD_INCOMPLETE] = warnings
        return self._record(resource, index, source_id=f"{entry.stu3_type}/{entry.source_id}",
                            location=entry.location, updated=_instant(_last_updated(entry.resource)), hints=hints)

    def _record(self, resource: dict[str, Any], index: BundleIndex, *, source_id: str, location: str,
                updated: datetime | None, hints: dict[str, Any]) -> MappedRecord:
        return MappedRecord(resource=resource, source_system=index.source_system, source_id=source_id,
                            source_updated=updated, patient_nhs_number=index.patient_nhs_number,
                            location=location, hints=hints)


def _entry_type(entry: Any) -> str:
    """The R4 type an entry that could not be named would have become ("" when not even that is known)."""
    resource = entry.get("resource") if isinstance(entry, dict) else None
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    return R4_TYPE_OF.get(kind, kind) if isinstance(kind, str) else ""


def _record_warnings(index: BundleIndex) -> list[str]:
    return list(dict.fromkeys(code for e in index.entries if e.stu3_type == "List"
                              for code in warning_codes(e.resource)))


def _last_updated(resource: dict[str, Any]) -> Any:
    meta = resource.get("meta")
    return meta.get("lastUpdated") if isinstance(meta, dict) else None


def _instant(value: Any) -> datetime | None:
    """A FHIR instant as an aware datetime; anything else (absent, malformed) as None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _bundle_time(bundle: dict[str, Any]) -> datetime | None:
    value = _last_updated(bundle)
    parsed = _instant(value)
    if value is not None and parsed is None:
        raise AdapterError("meta.lastUpdated", f"not a FHIR instant with a time zone: {value!r}")
    return parsed
