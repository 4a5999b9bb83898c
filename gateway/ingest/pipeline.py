"""The ingest pipeline: parse → map → validate → match → label → provenance → upsert.

Each step is a plain callable ``Work -> Work`` (as structlog's processors are), so the pipeline is a
list and a new step never changes the old ones. Whatever a step cannot handle is recorded on the
Work (rejected items, a match-review hold) and kept by :class:`Ingestor`; nothing is dropped.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from adapters.base import Adapter, AdapterError, MappedRecord, Rejected, SourceMessage
from gateway.ingest.batch import IngestBatch
from gateway.ingest.matching import match_patient, nhs_of
from gateway.ingest.provenance import attach_provenance
from gateway.ingest.quarantine import MatchReview, Quarantine
from gateway.ingest.sources import SourceRegistry, care_team_organisations
from gateway.ingest.upsert import keys_written, log_stale, upsert
from gateway.ingest.validate import validate
from gateway.ingest.work import Labelled, Work
from gateway.logging import get_logger
from gateway.store import ResourceStore

Step = Callable[[Work], Work]
Input = tuple[str, bytes]  # (origin, raw bytes) of one input: a file, an HTTP body, a quarantined entry
# A resource and its adapter's hints -> (categories, the hash of the category definitions used).
Categorize = Callable[[dict[str, Any], dict[str, Any] | None], tuple[tuple[str, ...], str]]
log = get_logger("gateway.ingest")


@dataclass
class Problem:
    origin: str
    location: str
    reason: str


WHOLE_MESSAGE = "(whole message)"  # the item type of a message refused before any item could be told apart


@dataclass
class ItemCounts:
    """What became of a source's items of one resource type: each item that came in is exactly one of
    stored (``unchanged`` and ignored-as-older versions included), refused (quarantined) or held for
    match review."""

    came_in: int = 0
    stored: int = 0
    refused: int = 0
    held: int = 0

    def add(self, other: ItemCounts) -> None:
        self.came_in += other.came_in
        self.stored += other.stored
        self.refused += other.refused
        self.held += other.held


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
    items: dict[str, ItemCounts] = field(default_factory=dict)  # resource type -> counts
    inputs: list[tuple[str, IngestSummary]] = field(default_factory=list)  # (origin, its own report), in order

    def add(self, other: IngestSummary) -> None:
        for name in ("messages", "accepted", "updated", "unchanged", "stale", "quarantined", "held_for_review",
                     "unknown_codes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems.extend(other.problems)
        for kind, counts in other.items.items():
            self.item(kind).add(counts)

    def item(self, resource_type: str) -> ItemCounts:
        return self.items.setdefault(resource_type or WHOLE_MESSAGE, ItemCounts())

    def totals(self) -> ItemCounts:
        total = ItemCounts()
        for counts in self.items.values():
            total.add(counts)
        return total

    def refusal_reasons(self) -> dict[str, int]:
        """Each distinct reason a quarantine entry or a match-review hold was made, with how many, most
        frequent first (a message refused whole is one entry however many items it held)."""
        counted: dict[str, int] = {}
        for p in self.problems:
            counted[p.reason] = counted.get(p.reason, 0) + 1
        return dict(sorted(counted.items(), key=lambda kv: -kv[1]))

    def as_dict(self) -> dict[str, Any]:
        counts = {k: v for k, v in self.__dict__.items() if k not in ("problems", "items", "inputs")}
        return counts | {
            "items": {k: v.__dict__.copy() for k, v in sorted(self.items.items())},
            "problems": [p.__dict__ for p in self.problems],
            "inputs": [{"origin": origin, **report.as_dict()} for origin, report in self.inputs]}

    def report(self) -> dict[str, Any]:
        """The operator's view of one input: how many items came in, were stored, refused (and why) or held."""
        total = self.totals()
        return {"messages": self.messages, **total.__dict__, "refused_or_held_because": self.refusal_reasons(),
                "by_type": {k: v.__dict__.copy() for k, v in sorted(self.items.items())}}


@dataclass
class Unparsed:
    """What parsing gave up on — one rejected part of an input, or (from an AdapterError) the whole input —
    with its own input's format and origin and the bytes to keep: the rejected part's, else the input's."""

    format: str
    origin: str
    location: str
    reason: str
    raw: bytes


@dataclass
class _Pending:
    """An input whose messages are in flight: its summary so far and how many of its entries are unfinished."""

    origin: str
    summary: IngestSummary = field(default_factory=IngestSummary)
    unfinished: int = 0


Entry = tuple[_Pending, Work | Unparsed]  # one place in a group, and the input it came from
InputDone = Callable[[str, IngestSummary], None]  # (origin, that input's summary), in input order


def read_files(paths: Iterable[Path]) -> Iterator[Input]:
    """The inputs of :meth:`Ingestor.ingest_files` from files, each read only when the pipeline asks for it."""
    for path in paths:
        yield str(path), path.read_bytes()


def map_message(work: Work) -> Work:
    for item in work.adapter.map(work.message):
        if isinstance(item, Rejected):
            work.rejected.append(item)
        else:
            work.records.append(Labelled(item))
            if item.hints.get("unknown_code"):
                work.unknown_codes += 1
    return work


def validate_records(work: Work) -> Work:
    """:func:`validate`, with each refusal naming its resource type, and a refused Patient noted."""
    before = work.records
    already = len(work.rejected)
    work = validate(work)
    kept = {id(labelled) for labelled in work.records}
    refused = [labelled.record.resource for labelled in before if id(labelled) not in kept]
    fresh = work.rejected[already:]
    work.rejected[already:] = [replace(r, resource_type=str(res.get("resourceType", "")))
                               for r, res in zip(fresh, refused, strict=True)]
    if not any(labelled.record.resource.get("resourceType") == "Patient" for labelled in work.records):
        # refused here, or already by the adapter
        work.patient_refused = next((r.reason for r in work.rejected if r.resource_type == "Patient"), None)
    return work


def link_patient(match: Step) -> Step:
    """Patient matching, giving each message one outcome.

    A message of which every item was refused has nothing to link: quarantine is its outcome, not
    also match review. A message whose own Patient was refused and whose person is not on record
    cannot be linked either: it is quarantined whole with that one reason, rather than held "for
    having no Patient" (a reviewer could only link items to a person the gateway does not have).
    """
    def step(work: Work) -> Work:
        if not work.records:
            return work
        work = match(work)
        if work.held_for_review and work.patient_refused:
            work.failed = ("Patient", f"the message's Patient was refused ({work.patient_refused}), and its other "
                                      f"{len(work.records)} item(s) cannot be linked to a person without it "
                                      f"({work.held_for_review}); nothing of the message was stored")
            work.held_for_review = None
        return work

    return step


def make_labeller(categorize: Categorize) -> Step:
    def label(work: Work) -> Work:
        for labelled in work.records:
            resource = labelled.record.resource
            if resource["resourceType"] == "Patient" and resource["id"] != work.patient_id:
                continue  # a source's copy of the matched Patient: folded into it, never stored (no labels)
            labelled.categories, labelled.labels_version = categorize(resource, labelled.record.hints)
        return work

    return label


def _sent_by(item: SourceMessage | Rejected, sender: str | None,
             registry: SourceRegistry | None = None) -> SourceMessage | Rejected:
    if sender is None or isinstance(item, Rejected) or (registry or SourceRegistry()).may_send(
            sender, item.source_system):
        return item
    return Rejected("source", f"sent by {sender} but claims to come from {item.source_system!r}: a source may only "
                              "send its own records (or those the source registry lets it send)", item.raw)


def make_care_team_check(registry: Callable[[], SourceRegistry]) -> Step:
    """A pushed message may name as care-team members only its own source and the organisations the
    source registry allows it (gateway/ingest/sources.py); otherwise the whole message is held in
    quarantine for review — nothing of it is stored or trusted. The operator's CLI is not checked."""

    def check(work: Work) -> Work:
        if work.sender is None:
            return work
        system = work.message.source_system
        current = registry()
        for labelled in work.records:
            for org, where in care_team_organisations(labelled.record.resource):
                if not current.may_name(system, org):
                    work.failed = (f"{labelled.record.location or work.message.origin} {where}".strip(),
                                   f"held for review: source {system!r} (sent by {work.sender}) names organisation "
                                   f"{org!r} as a care-team member, which the source registry does not allow it; "
                                   "add it to the registry or have an operator review and retry this entry")
                    return work
        return work

    return check


class Ingestor:
    """Runs source bytes through the pipeline and keeps every failure in quarantine or match review.

    ``batch_messages``: messages per database transaction (at least one); ``group_messages``: messages
    whose rows are written together in one SAVEPOINT (re-run one by one if the database refuses them).
    ``batch_seconds``: a transaction older than this is committed at the next group or input boundary
    (on SQLite it holds the one write lock, which the audit log needs for every API response).
    """

    def __init__(self, store: ResourceStore, quarantine: Quarantine, review: MatchReview,
                 categorize: Categorize, adapters: Mapping[str, Adapter], batch_messages: int = 500,
                 group_messages: int = 20) -> None:
        self.store = store
        self.quarantine = quarantine
        self.review = review
        self.adapters = adapters
        if batch_messages < 1:
            raise ValueError(f"batch_messages must be at least 1, not {batch_messages}")
        self.batch_messages = batch_messages
        self.batch_seconds = 0.5
        self.group_messages = max(1, min(group_messages, batch_messages))
        # Steps that need no database (run ahead for a whole group), then those that read or write it.
        self.sources = SourceRegistry()  # replaced from settings by build_gateway
        self.pure_steps: list[Step] = [map_message, make_care_team_check(lambda: self.sources), validate_records]
        self.store_steps: list[Step] = [link_patient(match_patient), make_labeller(categorize), attach_provenance,
                                        upsert]
        self.steps: list[Step] = [*self.pure_steps, *self.store_steps]

    def adapter(self, format: str) -> Adapter:
        try:
            return self.adapters[format]
        except KeyError:
            raise AdapterError("--format",
                               f"unknown format {format!r}; known: {', '.join(sorted(self.adapters))}") from None

    def ingest_bytes(self, format: str, raw: bytes, origin: str, *, keep_failures: bool = True,
                     forced_patient_id: str | None = None, sender: str | None = None) -> IngestSummary:
        """One input (see :meth:`ingest_files`). ``sender``: the organisation that pushed the bytes (its
        token's ODS code), when known. A message that claims another source is not stored as that
        source's record: it is quarantined."""
        return self.ingest_files(format, [(origin, raw)], keep_failures=keep_failures,
                                 forced_patient_id=forced_patient_id, sender=sender)

    def ingest_files(self, format: str, inputs: Iterable[Input], *, keep_failures: bool = True,
                     forced_patient_id: str | None = None, sender: str | None = None,
                     on_input: InputDone | None = None) -> IngestSummary:
        """Many inputs of one format through one :class:`IngestBatch`: the summary of them all.

        Messages are grouped across input boundaries (many small files cost one transaction per
        ``batch_messages``, not one each), while every failure is kept under its own input's origin
        with its own bytes. Each input is parsed whole before its messages are queued (an input the
        parser gives up on is quarantined whole), and ``inputs`` is consumed lazily: pass a
        generator to keep a big folder out of memory. ``on_input(origin, summary)`` is called once
        per input, in input order, when all of its messages are finished.
        """
        adapter = self.adapter(format)
        total = IngestSummary()
        pending: deque[_Pending] = deque()

        def settle() -> None:  # report the finished inputs at the head of the queue
            while pending and pending[0].unfinished == 0:
                done = pending.popleft()
                total.add(done.summary)
                total.inputs.append((done.origin, done.summary))
                if on_input is not None:
                    on_input(done.origin, done.summary)

        with IngestBatch(self.store.engine, self.batch_messages, self.batch_seconds) as batch:
            group: list[Entry] = []  # parse failures keep their place: problems stay in input order

            def flush() -> None:
                nonlocal group
                if group:
                    self._run_group(batch, group, keep_failures)
                    group = []
                settle()

            for origin, raw in _read_or_flush(inputs, flush):
                batch.messages_done(0)  # (however long reading took) and parse without the lock
                current = _Pending(origin)
                pending.append(current)
                for item in self._parse(adapter, format, origin, raw, sender):
                    group.append((current, item if isinstance(item, Unparsed) else
                                  Work(adapter, item, batch, forced_patient_id=forced_patient_id, sender=sender)))
                    current.unfinished += 1
                    if len(group) >= self.group_messages:
                        self._run_group(batch, group, keep_failures)
                        group = []
                settle()
                batch.messages_done(0)  # nothing is staged between groups: commit if the transaction is old
            flush()
        return total

    def _parse(self, adapter: Adapter, format: str, origin: str, raw: bytes,
               sender: str | None) -> list[SourceMessage | Unparsed]:
        """The whole input parsed (so that an input the parser gives up on midway is kept whole)."""
        try:
            parsed = [_sent_by(item, sender, self.sources) for item in adapter.parse(raw, origin)]
        except AdapterError as exc:
            return [Unparsed(format, origin, exc.location, exc.reason, raw)]
        return [item if isinstance(item, SourceMessage) else
                Unparsed(format, origin, item.location, item.reason, item.raw or raw) for item in parsed]

    def _steps(self, work: Work, steps: list[Step]) -> Work:
        if work.failed or work.held_for_review:
            return work
        try:
            for step in steps:
                work = step(work)
                if work.held_for_review or work.failed:
                    break
        except AdapterError as exc:
            work.failed = (exc.location, exc.reason)
        return work

    def _run_group(self, batch: IngestBatch, group: list[Entry], keep_failures: bool) -> None:
        """Messages through the pipeline together, their rows flushed at once in one SAVEPOINT; each
        entry's summary goes to its own input.

        The database-free steps run first for the whole group so that the rows it will touch are
        fetched in one SELECT. Should the database refuse the group's rows, it is re-run message by
        message (each in its own SAVEPOINT) so that only the refused message is quarantined; quarantine
        and match-review entries are written once the group's fate is known, so a re-run cannot
        duplicate them.
        """
        works = [w for _, w in group if isinstance(w, Work)]
        for work in works:
            self._steps(work, self.pure_steps)
        batch.begin()
        numbers = [(w, nhs_of(w)) for w in works]
        # before any row of theirs is read: other processes may be ingesting the same people
        batch.claim_people(number for _, number in numbers if number)
        batch.writer.load([key for w in works for key in keys_written(w)] +
                          [("Provenance", w.provenance_id) for w in works])
        batch.prefetch_patients(number for w, number in numbers if number and not w.forced_patient_id)
        for work in works:
            try:
                self._steps(work, self.store_steps)
            except BaseException:
                # Not the input's fault (a bug): keep the messages before this one, as committing each
                # message alone would have, and let the error out.
                batch.abandon()
                self._finish_group(batch, group[:next(i for i, (_, w) in enumerate(group) if w is work)],
                                   keep_failures, rerun=True)
                raise
        if batch.flush() is not None:
            batch.abandon()
            self._finish_group(batch, group, keep_failures, rerun=True)
        else:
            self._finish_group(batch, group, keep_failures, rerun=False)

    def _finish_group(self, batch: IngestBatch, group: list[Entry], keep_failures: bool, rerun: bool) -> None:
        """Summaries and failure entries in input order; ``rerun``: each message again, alone."""
        for pending, item in group:
            if isinstance(item, Unparsed):
                summary = IngestSummary()
                self._fail(summary, item.format, item.origin, item.location, item.reason, item.raw, keep_failures,
                           batch)
                summary.item(WHOLE_MESSAGE).add(ItemCounts(came_in=1, refused=1))
            elif rerun:
                summary = self._run_alone(Work(item.adapter, item.message, batch,
                                               forced_patient_id=item.forced_patient_id, sender=item.sender),
                                          keep_failures)
            else:
                summary = self._finish(item, keep_failures)
            pending.summary.add(summary)
            pending.unfinished -= 1
        batch.messages_done(len(group))

    def _run_alone(self, work: Work, keep_failures: bool) -> IngestSummary:
        """One message through every step, its rows flushed in a SAVEPOINT of its own (after the database
        refused its group: only the refused message is then quarantined)."""
        work = self._steps(work, self.steps)
        if not work.failed and (refused := work.batch.flush()) is not None:
            work.batch.abandon()
            work.store_refused = refused
            work.outcomes.clear()
        return self._finish(work, keep_failures)

    def _finish(self, work: Work, keep_failures: bool) -> IngestSummary:
        """The message's summary, and its quarantine / match-review entries."""
        summary = IngestSummary(messages=1)
        _count_items(summary, work)
        message = work.message
        if work.failed:
            location, reason = work.failed
            self._fail(summary, message.format, message.origin, location, reason, message.raw, keep_failures,
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
                                connection=work.batch.conn)
            return summary
        log_stale(work)
        summary.accepted = work.outcomes.get("created", 0)
        summary.updated = work.outcomes.get("updated", 0)
        summary.unchanged = work.outcomes.get("unchanged", 0)
        summary.stale = work.outcomes.get("stale", 0)
        summary.unknown_codes = work.unknown_codes
        return summary

    def _fail(self, summary: IngestSummary, format: str, origin: str, location: str, reason: str, raw: bytes,
              keep: bool, batch: IngestBatch) -> None:
        summary.quarantined += 1
        summary.problems.append(Problem(origin, location, reason))
        log.warning("ingest.quarantined", origin=origin, location=location, reason=reason)
        if keep:
            self.quarantine.put(format=format, origin=origin, location=location, reason=reason, raw=raw,
                                connection=batch.conn)

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


def _read_or_flush(inputs: Iterable[Input], flush: Callable[[], None]) -> Iterator[Input]:
    """The inputs one at a time; when reading the next one fails (a file vanished), what was read
    before is ingested (``flush``) before the error goes on."""
    iterator = iter(inputs)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except Exception:
            flush()
            raise
        yield item


def _count_items(summary: IngestSummary, work: Work) -> None:
    """Per resource type, what became of each item of the message (one outcome each)."""
    mapped = [lr.record.resource.get("resourceType", "")
              for lr in work.records if not lr.record.hints.get("provenance")]
    refused = [r.resource_type for r in work.rejected]
    if work.failed or work.store_refused:
        refused, mapped = refused + mapped, []
        if not refused:  # the adapter gave up before naming any item
            refused = [WHOLE_MESSAGE]
    for kind in mapped:
        counts = summary.item(kind)
        counts.came_in += 1
        if work.held_for_review:
            counts.held += 1
        else:
            counts.stored += 1
    for kind in refused:
        counts = summary.item(kind)
        counts.came_in += 1
        counts.refused += 1


def _own_patient_id(ingestor: Ingestor, format: str, raw: bytes) -> str | None:
    adapter = ingestor.adapter(format)
    for message in adapter.parse(raw, "match-review"):
        if isinstance(message, SourceMessage):
            for item in adapter.map(message):
                if isinstance(item, MappedRecord) and item.resource.get("resourceType") == "Patient":
                    return str(item.resource["id"])
    return None
