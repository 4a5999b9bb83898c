"""The pipeline's last step: store a message's resources idempotently (docs/architecture.md, invariant 6).

A message's upserts are *staged* in the open :class:`~gateway.ingest.batch.IngestBatch`'s
:class:`~gateway.store.bulk.BulkWriter`; the Ingestor flushes them many messages at a time (outcomes
are final once the flush succeeds).
"""
from __future__ import annotations

from typing import Any

from adapters.base import MappedRecord
from gateway.ingest.work import Work
from gateway.logging import get_logger
from gateway.store.bulk import BulkWriter

log = get_logger("gateway.ingest")


def upsert(work: Work) -> Work:
    writer = work.batch.writer
    writer.load(keys_written(work))  # at most one SELECT for the rows this message touches
    for labelled in work.records:
        record: MappedRecord = labelled.record
        resource = record.resource
        if resource["resourceType"] == "Patient" and resource["id"] != work.patient_id:
            _fold_identifiers(writer, work.patient_id, resource)
            continue
        if resource["resourceType"] == "Patient":
            current = writer.current("Patient", resource["id"])
            resource = keeping_folded_identifiers(resource, current.parsed() if current else None)
        result = writer.upsert(
            resource, patient_id=work.patient_id, categories=labelled.categories,
            holder_org=record.hints.get("holder_org", record.source_system),
            holder_team=record.hints.get("team"), source_system=record.source_system,
            source_id=record.source_id, source_updated=record.source_updated,
            labels_version=labelled.labels_version, label_section=record.hints.get("section"))
        if record.hints.get("provenance"):
            continue
        work.count(result.outcome)
        if result.outcome == "stale":
            work.stale.append((f"{result.resource_type}/{result.id}", record.source_id))
    return work


def keys_written(work: Work) -> list[tuple[str, str]]:
    """(type, id) of every row the message's records may write (a source's own Patient: the matched one)."""
    keys = []
    for labelled in work.records:
        resource = labelled.record.resource
        if resource["resourceType"] == "Patient" and resource["id"] != work.patient_id and work.patient_id:
            keys.append(("Patient", work.patient_id))
        keys.append((resource["resourceType"], resource["id"]))
    return keys


def log_stale(work: Work) -> None:
    for reference, source_id in work.stale:
        log.warning("ingest.stale_version_ignored", resource=reference, source_id=source_id,
                    origin=work.message.origin)


def _fold_identifiers(writer: BulkWriter, patient_id: str | None, incoming: dict[str, Any]) -> None:
    existing = writer.current("Patient", patient_id) if patient_id else None
    if existing is None:
        return
    merged = _with_extra_identifiers(existing.parsed(), incoming)
    if merged is not None:
        # the Patient stays its first source's record (its source key and time), now with more identifiers
        writer.upsert(merged, patient_id=patient_id, categories=tuple(existing.categories.split()),
                      holder_org=existing.holder_org, holder_team=existing.holder_team,
                      source_system=existing.source_system, source_id=existing.source_id,
                      source_updated=existing.source_updated, labels_version=existing.labels_version,
                      label_section=existing.label_section)


def keeping_folded_identifiers(incoming: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    """The matched Patient's own source re-sends it: keep the identifiers other sources folded in
    (those of systems this source does not send), so re-sending is idempotent and loses nothing."""
    if not stored:
        return incoming
    own_systems = {i.get("system") for i in incoming.get("identifier", [])}
    folded = [i for i in stored.get("identifier", []) if i.get("system") not in own_systems]
    if not folded:
        return incoming
    return {**incoming, "identifier": [*incoming.get("identifier", []), *folded]}


def _with_extra_identifiers(content: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any] | None:
    known = {(i.get("system"), i.get("value")) for i in content.get("identifier", [])}
    extra = [i for i in incoming.get("identifier", []) if (i.get("system"), i.get("value")) not in known]
    if not extra:
        return None
    merged = dict(content)
    merged["identifier"] = [*content.get("identifier", []), *extra]
    return merged
