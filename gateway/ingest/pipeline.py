"""The ingest pipeline: parse → map → validate → match → label → provenance → upsert.

Each step is a plain callable ``Work -> Work`` (as structlog's processors are), so the pipeline is a
list and a new step never changes the old ones. Whatever a step cannot handle is recorded on the
Work (rejected items, a match-review hold) and kept by :class:`Ingestor`; nothing is dropped.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.base import Adapter, AdapterError, MappedRecord, Rejected, SourceMessage
from gateway.ingest.batch import IngestBatch
from gateway.ingest.matching import make_matcher
from gateway.ingest.provenance import attach_provenance
from gateway.ingest.quarantine import MatchReview, Quarantine
from gateway.ingest.validate import validate
from gateway.ingest.work import Labelled, Work
from gateway.logging import get_logger
from gateway.store import ResourceStore
from gateway.store.bulk import BulkWriter

Step = Callable[[Work], Work]
Categorize = Callable[[dict[str, Any], dict[str, Any] | None], tuple[str, ...]]
log = get_logger("gateway.ingest")


@dataclass
class Problem:
    origin: str
    location: str
    reason: str


@dataclass
class IngestSummary:
    messages: int = 0
    accepted: int = 0  # newly created resources
    updated: int = 0
    unchanged: int = 0
    stale: int = 0  # an older version arrived after a newer one: ignored (and logged)
    quarantined: int = 0
    held_for_review: int = 0
    unknown_codes: int = 0
    problems: list[Problem] = field(default_factory=list)

    def add(self, other: IngestSummary) -> None:
        for name in ("messages", "accepted", "updated", "unchanged", "stale", "quarantined", "held_for_review",
                     "unknown_codes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems.extend(other.problems)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "problems"} | {
            "problems": [p.__dict__ for p in self.problems]}


def map_message(work: Work) -> Work:
    for item in work.adapter.map(work.message):
        if isinstance(item, Rejected):
            work.rejected.append(item)
        else:
            work.records.append(Labelled(item))
            if item.hints.get("unknown_code"):
                work.unknown_codes += 1
    return work


def make_labeller(categorize: Categorize) -> Step:
    def label(work: Work) -> Work:
        for labelled in work.records:
            labelled.categories = tuple(categorize(labelled.record.resource, labelled.record.hints))
        return work

    return label


def make_upserter(store: ResourceStore) -> Step:
    def upsert(work: Work) -> Work:
        if work.batch is not None:
            return _upsert_in_batch(work, work.batch)
        with store.engine.begin() as conn:
            for labelled in work.records:
                record: MappedRecord = labelled.record
                resource = record.resource
                if resource["resourceType"] == "Patient" and resource["id"] != work.patient_id:
                    _fold_identifiers(store, work.patient_id, resource, conn)
                    continue
                result = store.upsert(
                    resource, patient_id=work.patient_id, categories=labelled.categories,
                    holder_org=record.hints.get("holder_org", record.source_system),
                    holder_team=record.hints.get("team"), source_system=record.source_system,
                    source_id=record.source_id, source_updated=record.source_updated, connection=conn)
                if record.hints.get("provenance"):
                    continue
                work.count(result.outcome)
                if result.outcome == "stale":
                    log.warning("ingest.stale_version_ignored", resource=f"{result.resource_type}/{result.id}",
                                source_id=record.source_id, origin=work.message.origin)
        return work

    return upsert


def _fold_identifiers(store: ResourceStore, patient_id: str | None, incoming: dict[str, Any], conn: Any) -> None:
    """A second source's Patient adds its local identifiers to the one matched Patient."""
    existing = store.get("Patient", patient_id) if patient_id else None
    if existing is None:
        return
    known = {(i.get("system"), i.get("value")) for i in existing.content.get("identifier", [])}
    extra = [i for i in incoming.get("identifier", []) if (i.get("system"), i.get("value")) not in known]
    if extra:
        merged = dict(existing.content)
        merged["identifier"] = [*existing.content.get("identifier", []), *extra]
        store.upsert(merged, patient_id=patient_id, categories=existing.categories, holder_org=existing.holder_org,
                     holder_team=existing.holder_team, connection=conn)


def _upsert_in_batch(work: Work, batch: IngestBatch) -> Work:
    """The same writes as the message-by-message upserter, staged and flushed in one SAVEPOINT."""
    writer = batch.writer
    writer.load(_keys_written(work))  # one SELECT for the rows this message touches
    stale = []
    for labelled in work.records:
        record: MappedRecord = labelled.record
        resource = record.resource
        if resource["resourceType"] == "Patient" and resource["id"] != work.patient_id:
            _fold_identifiers_staged(writer, work.patient_id, resource)
            continue
        result = writer.upsert(
            resource, patient_id=work.patient_id, categories=labelled.categories,
            holder_org=record.hints.get("holder_org", record.source_system),
            holder_team=record.hints.get("team"), source_system=record.source_system,
            source_id=record.source_id, source_updated=record.source_updated)
        if record.hints.get("provenance"):
            continue
        work.count(result.outcome)
        if result.outcome == "stale":
            stale.append((result, record))
    if (refused := batch.flush_message()) is not None:
        work.store_refused = refused
        work.outcomes.clear()
        return work
    for result, record in stale:
        log.warning("ingest.stale_version_ignored", resource=f"{result.resource_type}/{result.id}",
                    source_id=record.source_id, origin=work.message.origin)
    return work


def _keys_written(work: Work) -> list[tuple[str, str]]:
    keys = []
    for labelled in work.records:
        resource = labelled.record.resource
        if resource["resourceType"] == "Patient" and resource["id"] != work.patient_id:
            if work.patient_id:
                keys.append(("Patient", work.patient_id))  # folded into the matched Patient
        else:
            keys.append((resource["resourceType"], resource["id"]))
    return keys


def _fold_identifiers_staged(writer: BulkWriter, patient_id: str | None, incoming: dict[str, Any]) -> None:
    """As :func:`_fold_identifiers`, reading and writing through the batch's writer."""
    existing = writer.current("Patient", patient_id) if patient_id else None
    if existing is None:
        return
    content = existing.parsed()
    known = {(i.get("system"), i.get("value")) for i in content.get("identifier", [])}
    extra = [i for i in incoming.get("identifier", []) if (i.get("system"), i.get("value")) not in known]
    if extra:
        merged = dict(content)
        merged["identifier"] = [*content.get("identifier", []), *extra]
        writer.upsert(merged, patient_id=patient_id, categories=tuple(existing.categories.split()),
                      holder_org=existing.holder_org, holder_team=existing.holder_team)


class Ingestor:
    """Runs source bytes through the pipeline and keeps every failure in quarantine or match review.

    ``batch_messages``: messages per database transaction (each message in its own SAVEPOINT);
    0 runs every message in a transaction of its own through ``ResourceStore.upsert`` — the
    reference the batched path is tested against.
    """

    def __init__(self, store: ResourceStore, quarantine: Quarantine, review: MatchReview,
                 categorize: Categorize, adapters: Mapping[str, Adapter], batch_messages: int = 500) -> None:
        self.store = store
        self.quarantine = quarantine
        self.review = review
        self.adapters = adapters
        self.batch_messages = batch_messages
        self.steps: list[Step] = [map_message, validate, make_matcher(store), make_labeller(categorize),
                                  attach_provenance, make_upserter(store)]

    def adapter(self, format: str) -> Adapter:
        try:
            return self.adapters[format]
        except KeyError:
            raise AdapterError("--format", f"unknown format {format!r}; known: {', '.join(sorted(self.adapters))}")

    def ingest_bytes(self, format: str, raw: bytes, origin: str, *, keep_failures: bool = True,
                     forced_patient_id: str | None = None) -> IngestSummary:
        adapter = self.adapter(format)
        summary = IngestSummary()
        try:
            parsed: Iterable[SourceMessage | Rejected] = list(adapter.parse(raw, origin))
        except AdapterError as exc:
            self._fail(summary, format, origin, exc.location, exc.reason, raw, keep_failures)
            return summary
        if self.batch_messages <= 0:
            for item in parsed:
                if isinstance(item, Rejected):
                    self._fail(summary, format, origin, item.location, item.reason, item.raw or raw, keep_failures)
                    continue
                summary.add(self.run(Work(adapter, item, forced_patient_id=forced_patient_id), keep_failures))
            return summary
        with IngestBatch(self.store.engine, self.batch_messages) as batch:
            for item in parsed:
                if isinstance(item, Rejected):
                    self._fail(summary, format, origin, item.location, item.reason, item.raw or raw, keep_failures,
                               batch)
                else:
                    summary.add(self.run(Work(adapter, item, forced_patient_id=forced_patient_id, batch=batch),
                                         keep_failures))
                batch.message_done()
        return summary

    def run(self, work: Work, keep_failures: bool = True) -> IngestSummary:
        summary = IngestSummary(messages=1)
        message = work.message
        try:
            for step in self.steps:
                work = step(work)
                if work.held_for_review:
                    break
        except AdapterError as exc:
            self._fail(summary, message.format, message.origin, exc.location, exc.reason, message.raw, keep_failures,
                       work.batch)
            return summary
        if work.store_refused:
            # Nothing of the message was stored (its SAVEPOINT rolled back): keep it whole, with the reason.
            self._fail(summary, message.format, message.origin, "(store)",
                       f"the store refused the message: {work.store_refused}", message.raw, keep_failures, work.batch)
            return summary
        for rejected in work.rejected:
            self._fail(summary, message.format, message.origin, rejected.location, rejected.reason, message.raw,
                       keep_failures, work.batch)
        if work.held_for_review:
            summary.held_for_review += 1
            summary.problems.append(Problem(message.origin, "patient", work.held_for_review))
            if keep_failures:
                nhs = next((lr.record.patient_nhs_number for lr in work.records if lr.record.patient_nhs_number), None)
                self.review.put(format=message.format, origin=message.origin, nhs_number=nhs,
                                reason=work.held_for_review, raw=message.raw,
                                connection=work.batch.conn if work.batch else None)
            return summary
        summary.accepted = work.outcomes.get("created", 0)
        summary.updated = work.outcomes.get("updated", 0)
        summary.unchanged = work.outcomes.get("unchanged", 0)
        summary.stale = work.outcomes.get("stale", 0)
        summary.unknown_codes = work.unknown_codes
        return summary

    def _fail(self, summary: IngestSummary, format: str, origin: str, location: str, reason: str, raw: bytes,
              keep: bool, batch: IngestBatch | None = None) -> None:
        summary.quarantined += 1
        summary.problems.append(Problem(origin, location, reason))
        log.warning("ingest.quarantined", origin=origin, location=location, reason=reason)
        if keep:
            self.quarantine.put(format=format, origin=origin, location=location, reason=reason, raw=raw,
                                connection=batch.conn if batch else None)

    # -- re-processing ---------------------------------------------------------------------------
    def retry(self, entry_id: int, raw: bytes | None = None) -> IngestSummary:
        """Re-run a quarantined input (optionally a fixed copy); resolved only when it now goes through."""
        entry = self.quarantine.get(entry_id)
        if entry is None:
            raise KeyError(entry_id)
        summary = self.ingest_bytes(entry.format, raw if raw is not None else entry.raw, entry.origin,
                                    keep_failures=False)
        if summary.quarantined == 0 and summary.held_for_review == 0:
            self.quarantine.resolve(entry_id)
        return summary

    def resolve_match(self, entry_id: int, patient_id: str | None) -> IngestSummary:
        """Link a held message to a stored Patient (``patient_id``) or accept it as a new person (None)."""
        entry = self.review.get(entry_id)
        if entry is None:
            raise KeyError(entry_id)
        if patient_id is not None and self.store.get("Patient", patient_id) is None:
            raise KeyError(f"Patient/{patient_id}")
        summary = self.ingest_bytes(entry.format, entry.raw, entry.origin, keep_failures=False,
                                    forced_patient_id=patient_id or _own_patient_id(self, entry.format, entry.raw))
        if summary.held_for_review == 0:
            self.review.close(entry_id, "linked" if patient_id else "created",
                              f"linked to Patient/{patient_id}" if patient_id else "accepted as a new person")
        return summary


def _own_patient_id(ingestor: Ingestor, format: str, raw: bytes) -> str | None:
    adapter = ingestor.adapter(format)
    for message in adapter.parse(raw, "match-review"):
        if isinstance(message, SourceMessage):
            for item in adapter.map(message):
                if isinstance(item, MappedRecord) and item.resource.get("resourceType") == "Patient":
                    return item.resource["id"]
    return None
