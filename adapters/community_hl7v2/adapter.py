"""The community-nursing HL7 v2.4 adapter (``--format hl7v2``)."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import hl7

from adapters.base import AdapterError, MappedRecord, Rejected, SourceMessage
from adapters.community_hl7v2 import framing
from adapters.community_hl7v2.caseload import CASELOAD_EVENTS, caseload
from adapters.community_hl7v2.context import Context
from adapters.community_hl7v2.fields import LOCAL_ZONE, FieldError, Seg, parse_ts
from adapters.community_hl7v2.person import (
    allergy,
    condition,
    contacts,
    gp_team,
    identifiers,
    patient,
)
from adapters.community_hl7v2.results import (
    ObrGroup,
    Visit,
    by_group,
    diagnostic_report,
    encounter,
    is_visit,
    obr_groups,
    obr_key,
    result,
)
from adapters.community_hl7v2.setting import Setting, setting_of, stay, stay_key

PERSON_EVENTS = {"A28", "A31"}  # add / update person: no stay, no caseload
SUPPORTED = {("ADT", e) for e in ("A28", "A31", "A04", "A08", "A03", "A01", "A05")} | {("ORU", "R01")}

# Size limits: far beyond any real message (an ORU with an embedded PDF is a few MB), they keep one
# hostile or runaway input from costing the whole ingest; what exceeds them is quarantined, unparsed.
MAX_INPUT_BYTES = 64 * 1024 * 1024
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
MAX_SEGMENTS = 20_000
_MSH_REQUIRED = {
    4: "MSH-4 sending facility is empty: it is the sender's ODS code, which names the source system "
       "(the owner of every record in the message and half of its idempotence key)",
    9: "MSH-9 message type is empty: the message cannot be interpreted without it",
    10: "MSH-10 message control id is empty: it is the idempotence key of the message",
}


@dataclass(frozen=True)
class Hl7Body:
    """What :meth:`Hl7v2Adapter.map` receives: the parsed message and its place in the file."""

    message: hl7.Message
    number: int
    raw: bytes


class Hl7v2Adapter:
    format = "hl7v2"
    version = "1.1.0"

    def __init__(self, *, max_input_bytes: int = MAX_INPUT_BYTES, max_message_bytes: int = MAX_MESSAGE_BYTES,
                 max_segments: int = MAX_SEGMENTS) -> None:
        self.max_input_bytes = max_input_bytes
        self.max_message_bytes = max_message_bytes
        self.max_segments = max_segments

    def parse(self, raw: bytes, origin: str) -> Iterator[SourceMessage | Rejected]:
        if len(raw) > self.max_input_bytes:
            raise AdapterError(origin, f"input is {len(raw)} bytes, more than the {self.max_input_bytes}-byte limit")
        envelope: list[bytes] = []
        found = list(framing.chunks(raw, envelope))
        if not found:
            raise AdapterError(origin, "empty input: no HL7 v2 segments" if not envelope else
                               "a batch envelope (FHS/BHS) with no messages in it")
        if not any(c.segments[0].startswith(b"MSH") for c in found):
            raise AdapterError(f"{origin}#message 1, MSH", "no MSH segment: the input is not HL7 v2")
        return self._messages(found, envelope, origin)

    def _messages(self, found: list[framing.Chunk], envelope: list[bytes],
                  origin: str) -> Iterator[SourceMessage | Rejected]:
        declared = framing.declared_batch_size(envelope)
        if declared is not None and declared != len(found):
            yield Rejected("BTS-1", f"the batch trailer declares {declared} message(s) but {len(found)} were found: "
                                    "messages may be missing from the batch", b"\r".join(envelope) + b"\r")
        for chunk in found:
            where = f"message {chunk.number}"
            if (size := chunk.size) > self.max_message_bytes or len(chunk.segments) > self.max_segments:
                yield Rejected(where, f"message of {size} bytes and {len(chunk.segments)} segments exceeds the limit "
                                      f"({self.max_message_bytes} bytes, {self.max_segments} segments): "
                                      "quarantined unread", chunk.raw)
                continue
            try:
                yield self._message(chunk, origin)
            except FieldError as exc:
                yield Rejected(f"{where}, {exc.location}", exc.reason, chunk.raw)

    def _message(self, chunk: framing.Chunk, origin: str) -> SourceMessage:
        text = framing.decode(chunk)
        framing.check_structure(text)
        try:
            message = hl7.parse(text)
        except Exception as exc:  # noqa: BLE001 - python-hl7 raises assorted errors on malformed input
            raise FieldError("MSH", f"not parseable as HL7 v2: {exc}") from None
        msh = Seg(message.segment("MSH"), "MSH", message)
        for number, why in _MSH_REQUIRED.items():
            if not msh.get(number):
                truncated = len(msh.segment) <= number
                raise FieldError(msh.where(number), f"MSH ends after {len(msh.segment) - 1} fields, before MSH-{number}"
                                 " (truncated MSH)" if truncated else why)
        version = msh.get(12)
        if version and not version.startswith("2."):
            raise FieldError(msh.where(12), f"version {version!r} is not HL7 v2")
        sent = message_time(msh)
        return SourceMessage(format=self.format, origin=f"{origin}#message {chunk.number}",
                             raw=chunk.raw, body=Hl7Body(message, chunk.number, chunk.raw),
                             source_system=msh.get(4), message_id=msh.get(10), message_time=sent)

    def map(self, message: SourceMessage) -> Iterable[MappedRecord | Rejected]:
        body: Hl7Body = message.body
        try:
            yield from _map_message(body, message)
        except FieldError as exc:  # the person-level segments are unusable: the whole message waits
            yield Rejected(f"message {body.number}, {exc.location}", exc.reason, body.raw)


def _segments(msg: hl7.Message) -> list[Seg]:
    """Every segment with its label: NAME[n] for a repeating segment, NAME for a single one.

    Two passes with counters (linear): the totals decide the label form, the running count the n.
    """
    names = [str(segment[0]) for segment in msg]
    totals: dict[str, int] = {}
    for name in names:
        totals[name] = totals.get(name, 0) + 1
    seen: dict[str, int] = {}
    out = []
    for segment, name in zip(msg, names, strict=True):
        seen[name] = seen.get(name, 0) + 1
        out.append(Seg(segment, f"{name}[{seen[name]}]" if totals[name] > 1 else name, msg))
    return out


Built = MappedRecord | Iterable[MappedRecord] | None


def message_time(msh: Seg) -> datetime | None:
    """MSH-7 as an aware datetime (a date alone is midnight UK time): the records' source_updated."""
    if not msh.get(7):
        return None
    text, moment = parse_ts(msh.get(7), msh.where(7))
    if moment is None and len(text) == 10:
        moment = datetime.fromisoformat(text).replace(tzinfo=LOCAL_ZONE)
    return moment


def _guard(body: Hl7Body, kind: str, build: Callable[..., Built], *args: Any) -> Iterator[MappedRecord | Rejected]:
    """One item's failure quarantines that item only (``kind``: the R4 type it would have become)."""
    try:
        built = build(*args)
        yield from ([built] if isinstance(built, MappedRecord) else [r for r in built or () if r])
    except FieldError as exc:
        yield _rejected(body, exc, kind)


def _rejected(body: Hl7Body, exc: FieldError, kind: str = "") -> Rejected:
    return Rejected(f"message {body.number}, {exc.location}", exc.reason, body.raw, resource_type=kind)


def _map_message(body: Hl7Body, message: SourceMessage) -> Iterator[MappedRecord | Rejected]:
    segs = _segments(body.message)
    first = {s.name: s for s in reversed(segs)}
    msh = first["MSH"]
    kind, event = msh.get(9, 1).upper(), msh.get(9, 2).upper()
    if (kind, event) not in SUPPORTED:
        raise FieldError(msh.where(9), f"message type {kind}^{event} is not supported")
    ctx, pid, ids = _person(body, message, first.get("PID"))
    pd1 = first.get("PD1")
    yield patient(ctx, pid, pd1, ids)
    by_name: dict[str, list[Seg]] = {}
    for seg in segs:
        by_name.setdefault(seg.name, []).append(seg)
    yield from _person_sections(body, ctx, pd1, by_name)
    yield from _care(body, ctx, segs, first, by_name, kind, event)


def _person(body: Hl7Body, message: SourceMessage, pid: Seg | None) -> tuple[Context, Seg, list[dict[str, Any]]]:
    """The message's person (PID, its identifiers) and the context every record of the message is made in."""
    if pid is None:
        raise FieldError("PID", "segment missing: no person in the message")
    nhs, local, ids = identifiers(pid, message.source_system)
    if not nhs and not local:
        raise FieldError(pid.where(3), "no NHS number (NH, or HN / authority NHS) or local id (PI)")
    return Context(message.source_system, body.number, message.message_id or "",
                   message.message_time, local or f"nhs:{nhs}", nhs), pid, ids


def _person_sections(body: Hl7Body, ctx: Context, pd1: Seg | None,
                     by_name: dict[str, list[Seg]]) -> Iterator[MappedRecord | Rejected]:
    """Registered GP, contacts, allergies and diagnoses: each segment on its own (one bad one is rejected alone)."""
    if pd1:
        yield from _guard(body, "CareTeam", gp_team, ctx, pd1)
    if nk1s := by_name.get("NK1"):
        yield from _guard(body, "RelatedPerson", contacts, ctx, nk1s)
    for al1 in by_name.get("AL1", []):
        yield from _guard(body, "AllergyIntolerance", allergy, ctx, al1)
    for dg1 in by_name.get("DG1", []):
        yield from _guard(body, "Condition", condition, ctx, dg1)


def _care(body: Hl7Body, ctx: Context, segs: list[Seg], first: dict[str, Seg], by_name: dict[str, list[Seg]],
          kind: str, event: str) -> Iterator[MappedRecord | Rejected]:
    """The caseload, visit, stay or results the message is about, placed by its setting (PV1, ROL)."""
    rols, pv1 = by_name.get("ROL", []), first.get("PV1")
    where = setting_of(pv1, rols)
    if where.community and (event in CASELOAD_EVENTS or rols):
        yield from _guard(body, "CareTeam", caseload, ctx, event, pv1, first.get("EVN"), rols)
    if kind == "ORU":
        yield from _observations(ctx, body, segs, pv1, where, [] if where.community else rols)
    elif pv1 is not None and not where.community and event not in PERSON_EVENTS:
        yield from _guard(body, "Encounter", stay, ctx, event, pv1, rols, [])
    elif rols and not where.community:
        yield from _unattached_roles(body, rols, where)


def _unattached_roles(body: Hl7Body, rols: list[Seg], where: Setting) -> Iterator[Rejected]:
    for rol in rols:
        yield Rejected(f"message {body.number}, {rol.label}",
                       f"a role outside a community caseload ({where.described}, no community team) with no encounter "
                       "to attach it to: not stored as a care relationship", body.raw, resource_type="CareTeam")


def _observations(ctx: Context, body: Hl7Body, segs: list[Seg], pv1: Seg | None, where: Setting,
                  rols: list[Seg]) -> Iterator[MappedRecord | Rejected]:
    """ORU^R01: a district-nursing visit (community PV1 or a VISIT OBR) with its results as the local-code
    table says; any other OBR (a lab test...) as a DiagnosticReport of its own.

    A non-community PV1 in a result message repeats the stay that the hospital's ADT messages own: the
    results point at that stay's Encounter (same stable id) rather than overwrite it with the copy.
    """
    groups = obr_groups(segs)
    visits = [g for g in groups if g.obr is None or is_visit(g.obr)]
    reports = [g for g in groups if g.obr is not None and not is_visit(g.obr)]
    loose_notes = [n for g in visits for n in g.notes]
    if where.community or any(g.obr is not None for g in visits):
        try:
            visit, record = encounter(ctx, pv1, next((g.obr for g in visits if g.obr), None), loose_notes)
        except FieldError as exc:  # results of a visit that cannot be placed wait with it
            yield _rejected(body, exc, "Encounter")
            return
        if record:
            yield record
        if rols:
            yield from _unattached_roles(body, rols, where)
    else:
        stay_id = ctx.id("Encounter", stay_key(ctx, pv1)) if pv1 is not None and pv1.get(19) else None
        visit = Visit((pv1.get(19) if pv1 else "") or f"message:{ctx.message_id}", stay_id)
        if loose_notes:
            yield Rejected(f"message {body.number}, NTE", "notes before any test (OBR) in a result message that "
                                                         "describes no visit: nothing to attach them to", body.raw,
                           resource_type="Encounter")
        if rols:
            yield from _unattached_roles(body, rols, where)
    for group in visits:
        siblings = by_group(group.results)
        for res in group.results:
            yield from _guard(body, "Observation", result, ctx, res, siblings, visit)
    for group in reports:
        yield from _report(ctx, body, group, visit)


def _report(ctx: Context, body: Hl7Body, group: ObrGroup, visit: Visit) -> Iterator[MappedRecord | Rejected]:
    assert group.obr is not None
    own = Visit(f"{visit.key}|{obr_key(group.obr)}", visit.encounter_id)
    siblings = by_group(group.results)
    observations: list[str] = []
    for res in group.results:
        for item in _guard(body, "Observation", result, ctx, res, siblings, own):
            if isinstance(item, MappedRecord) and item.resource["resourceType"] == "Observation":
                observations.append(item.resource["id"])
            yield item
    yield from _guard(body, "DiagnosticReport", diagnostic_report, ctx, group, own, observations)
