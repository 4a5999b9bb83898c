"""What the store must hold after ingesting given inputs, worked out from the rules alone.

An independent oracle for the ingest write path, written from docs/architecture.md rather than from
the pipeline's code: it shares the adapters (parse, map) and the one R4 validation with production —
those say *what* a source sent — and nothing of how ingest batches, matches, stages or writes it.

The rules it applies, message by message, in input order:

* **nothing lost**: an input the adapter cannot read, a part it rejects, an item that is not valid
  R4 is quarantined with the bytes it came from; a message whose person is uncertain is held for
  match review with its bytes; everything else is stored;
* **matching by NHS number only** (invariant 7): the message's first NHS number, valid under
  Modulus 11; the one Patient carrying it is the person unless birth date or family name disagree;
  no one carries it — the message's own Patient is the person (without one it is held); two carry it
  — held. A message whose own Patient was refused and whose person is not on record is quarantined
  whole;
* **one Patient per person**: a second source's Patient for a known person is not stored; the
  person's Patient gains the identifiers it did not have, and the message's references point at it;
  when the Patient's own source re-sends it, identifiers other sources added are kept;
* **idempotence** (invariant 6): a resource is keyed by its id; content equal apart from the
  store's meta (and the same source section) is ``unchanged``; an older source time is ``stale``
  and ignored; anything else is a new version;
* **provenance**: every message that stored something has a Provenance naming its source system,
  targeting what the message wrote and naming each item's source record.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from adapters import nhs_number
from adapters.base import NHS_NUMBER_SYSTEM, AdapterError, MappedRecord, Rejected, SourceMessage
from gateway.ingest.tables import MatchReviewRow, QuarantineRow
from gateway.ingest.validate import problem
from gateway.store.tables import ResourceRow, ResourceVersionRow, SearchTokenRow
from gateway.wiring import Gateway

COUNTS = ("messages", "accepted", "updated", "unchanged", "stale", "quarantined", "held_for_review")


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def comparable(content: dict[str, Any]) -> dict[str, Any]:
    """A resource as the rules compare it: the store's own meta (version, time of writing) left out."""
    meta = {k: v for k, v in content.get("meta", {}).items() if k not in ("versionId", "lastUpdated")}
    body = {k: v for k, v in content.items() if k != "meta"}
    return body | ({"meta": meta} if meta else {})


@dataclass
class Row:
    """One expected resource row: its versions (as compared) and the columns the rules fix."""

    versions: list[dict[str, Any]]
    patient_id: str | None
    source_system: str
    source_id: str
    source_updated: datetime | None
    holder_org: str | None
    holder_team: str | None
    section: str | None

    @property
    def content(self) -> dict[str, Any]:
        return self.versions[-1]


@dataclass
class Expected:
    rows: dict[tuple[str, str], Row] = field(default_factory=dict)
    # One Provenance per message, a re-sent message's replacing the one before: keyed by the message's
    # own identity (source system, message id or else its bytes).
    provenance: dict[tuple[str, str | bytes], tuple[str | None, frozenset[str], str, frozenset[tuple[str, str]]]] = \
        field(default_factory=dict)
    quarantine: list[tuple[str, str, str, bytes]] = field(default_factory=list)  # format, origin, location, raw
    review: list[tuple[str, str, str, bytes]] = field(default_factory=list)  # format, origin, NHS number, raw

    # -- the rules ---------------------------------------------------------------------------------
    def ingest(self, gateway: Gateway, format: str, origin: str, raw: bytes) -> dict[str, int]:
        adapter = gateway.ingestor.adapter(format)
        counts = dict.fromkeys(COUNTS, 0)
        try:
            parsed = list(adapter.parse(raw, origin))
        except AdapterError as exc:
            parsed = [Rejected(exc.location, exc.reason, raw)]
        for item in parsed:
            if isinstance(item, Rejected):
                self._quarantine(counts, format, origin, item.location, item.raw or raw)
            else:
                counts["messages"] += 1
                self._message(counts, adapter, item)
        return counts

    def _quarantine(self, counts: dict[str, int], format: str, origin: str, location: str, raw: bytes) -> None:
        counts["quarantined"] += 1
        self.quarantine.append((format, origin, location, raw))

    def _message(self, counts: dict[str, int], adapter: Any, message: SourceMessage) -> None:
        try:
            mapped = list(adapter.map(message))
        except AdapterError as exc:
            self._quarantine(counts, message.format, message.origin, exc.location, message.raw)
            return
        records, refused = _valid(mapped)
        if not records:
            for location, _ in refused:
                self._quarantine(counts, message.format, message.origin, location, message.raw)
            return
        person = self._person(records)
        own = next((r.resource for r in records if r.resource["resourceType"] == "Patient"), None)
        if person is None and own is None and any(kind == "Patient" for _, kind in refused):
            self._quarantine(counts, message.format, message.origin, "Patient", message.raw)  # whole message
            return
        for location, _ in refused:
            self._quarantine(counts, message.format, message.origin, location, message.raw)
        if person is None:
            counts["held_for_review"] += 1
            given = next((r.patient_nhs_number for r in records if r.patient_nhs_number), None)
            self.review.append((message.format, message.origin, given or "", message.raw))
            return
        self._store(counts, message, records, person, own)

    def _store(self, counts: dict[str, int], message: SourceMessage, records: list[MappedRecord], person: str,
               own: dict[str, Any] | None) -> None:
        written: list[str] = []
        for record in records:
            resource = record.resource
            if own is not None and own["id"] != person:
                resource = _pointing_at(resource, f"Patient/{own['id']}", f"Patient/{person}")
            if resource["resourceType"] == "Patient" and resource["id"] != person:
                self._fold(person, resource)
                written.append(f"Patient/{person}")
                continue
            if resource["resourceType"] == "Patient" and (key := ("Patient", person)) in self.rows:
                resource = _keeping_other_identifiers(resource, self.rows[key].content)
            counts[self._upsert(resource, person, record)] += 1
            written.append(f"{resource['resourceType']}/{resource['id']}")
        entities = frozenset((r.source_system, r.source_id) for r in records)
        self.provenance[(message.source_system, message.message_id or message.raw)] = (
            person, frozenset(written), message.source_system, entities)

    def _person(self, records: list[MappedRecord]) -> str | None:
        """The Patient id the message is about, or None when it must be held."""
        given = next((r.patient_nhs_number for r in records if r.patient_nhs_number), None)
        if given is None or not nhs_number.is_valid(given):
            return None
        number = nhs_number.normalise(given)
        carriers = [rid for (kind, rid), row in self.rows.items() if kind == "Patient" and any(
            i.get("system") == NHS_NUMBER_SYSTEM and i.get("value") == number
            for i in row.content.get("identifier", []))]
        own = next((r.resource for r in records if r.resource["resourceType"] == "Patient"), None)
        if len(carriers) > 1:
            return None
        if carriers:
            stored = self.rows[("Patient", carriers[0])].content
            if own is not None and (_differs(own.get("birthDate"), stored.get("birthDate"))
                                    or _differs(_family(own), _family(stored))):
                return None
            return carriers[0]
        return own["id"] if own is not None else None

    def _upsert(self, resource: dict[str, Any], person: str, record: MappedRecord) -> str:
        key = (resource["resourceType"], resource["id"])
        section = record.hints.get("section")
        when = _utc(record.source_updated)
        row = self.rows.get(key)
        if row is not None:
            if when and row.source_updated and when < row.source_updated:
                return "stale"
            if row.section == section and comparable(resource) == row.content:
                return "unchanged"
        versions = [*row.versions, comparable(resource)] if row else [comparable(resource)]
        self.rows[key] = Row(versions, person, record.source_system, record.source_id, when,
                             record.hints.get("holder_org", record.source_system), record.hints.get("team"), section)
        return "updated" if row else "accepted"

    def _fold(self, person: str, incoming: dict[str, Any]) -> None:
        """A second source's Patient for a known person: only the identifiers the person lacked."""
        row = self.rows[("Patient", person)]
        have = row.content.get("identifier", [])
        known = {(i.get("system"), i.get("value")) for i in have}
        extra = [i for i in incoming.get("identifier", []) if (i.get("system"), i.get("value")) not in known]
        if extra:
            row.versions.append(row.content | {"identifier": [*have, *extra]})

    # -- the store, as the rules can see it ---------------------------------------------------------
    def check(self, gateway: Gateway) -> None:
        """Assert that the gateway's database holds exactly what the rules say."""
        stored = stored_state(gateway)
        assert stored["quarantine"] == sorted(self.quarantine)
        assert stored["review"] == sorted(self.review)
        assert stored["provenance"] == set(self.provenance.values())
        expected_rows = {key: (len(row.versions), row.patient_id, row.source_system, row.source_id,
                               row.source_updated, row.holder_org, row.holder_team, row.section, row.content)
                         for key, row in self.rows.items()}
        assert set(stored["rows"]) == set(expected_rows)
        for key, wanted in expected_rows.items():
            assert stored["rows"][key] == wanted, key
        assert stored["versions"] == {key: row.versions for key, row in self.rows.items()}
        patients = {rid: row.content for (kind, rid), row in self.rows.items() if kind == "Patient"}
        assert stored["patient_identifiers"] == {
            rid: Counter((i.get("system"), i.get("value")) for i in p.get("identifier", []))
            for rid, p in patients.items()}
        carriers = Counter(i["value"] for p in patients.values() for i in p.get("identifier", [])
                           if i.get("system") == NHS_NUMBER_SYSTEM)
        assert all(n == 1 for n in carriers.values()), "one Patient per NHS number"


def stored_state(gateway: Gateway) -> dict[str, Any]:
    """The database's rows in the oracle's terms."""
    r, v, t = ResourceRow.__table__, ResourceVersionRow.__table__, SearchTokenRow.__table__
    q, m = QuarantineRow.__table__, MatchReviewRow.__table__
    rows: dict[tuple[str, str], Any] = {}
    provenance = set()
    versions: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = {}
    with gateway.engine.connect() as conn:
        for row in conn.execute(sa.select(r)):
            content = orjson.loads(row.content)
            if row.resource_type == "Provenance":
                agent = content["agent"][0]["who"]["identifier"]["value"]
                entities = frozenset((e["what"]["identifier"]["system"].rsplit("/", 1)[-1],
                                      e["what"]["identifier"]["value"]) for e in content["entity"])
                provenance.add((row.patient_id, frozenset(t["reference"] for t in content["target"]), agent,
                                entities))
                continue
            rows[(row.resource_type, row.id)] = (row.version_id, row.patient_id, row.source_system, row.source_id,
                                                 _utc(row.source_updated), row.holder_org, row.holder_team,
                                                 row.label_section, comparable(content))
        for row in conn.execute(sa.select(v).where(v.c.resource_type != "Provenance")):
            versions.setdefault((row.resource_type, row.id), []).append(
                (row.version_id, comparable(orjson.loads(row.content))))
        identifiers: dict[str, Counter[tuple[str | None, str]]] = {
            rid: Counter() for kind, rid in rows if kind == "Patient"}
        for row in conn.execute(sa.select(t).where(t.c.resource_type == "Patient", t.c.param == "identifier")):
            identifiers[row.resource_id][(row.system, row.code)] += 1
        quarantine = sorted((row.format, row.origin, row.location, row.raw) for row in conn.execute(sa.select(q)))
        review = sorted((row.format, row.origin, row.nhs_number or "", row.raw) for row in conn.execute(sa.select(m)))
    return {"rows": rows, "provenance": provenance, "quarantine": quarantine, "review": review,
            "versions": {key: [c for _, c in sorted(vs, key=lambda x: x[0])] for key, vs in versions.items()},
            "patient_identifiers": identifiers}


def summary_counts(summary: Any) -> dict[str, int]:
    """An IngestSummary's counts in the oracle's terms."""
    return {name: getattr(summary, name) for name in COUNTS}


def _valid(mapped: list[MappedRecord | Rejected]) -> tuple[list[MappedRecord], list[tuple[str, str]]]:
    """The items that are valid R4, and (location, resource type) of those the adapter or validation refused."""
    records: list[MappedRecord] = []
    refused: list[tuple[str, str]] = []
    for item in mapped:
        if isinstance(item, Rejected):
            refused.append((item.location, item.resource_type))
        elif problem(item.resource) is not None:
            refused.append((item.location or item.source_id, item.resource["resourceType"]))
        else:
            records.append(item)
    return records, refused


def _differs(a: object, b: object) -> bool:
    return bool(a) and bool(b) and a != b


def _family(patient: dict[str, Any]) -> str | None:
    names = patient.get("name") or []
    return (names[0].get("family") or "").strip().casefold() if names else None


def _pointing_at(value: Any, old: str, new: str) -> Any:
    """``value`` with every reference string ``old`` replaced by ``new`` (a copy)."""
    if isinstance(value, dict):
        return {k: _pointing_at(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_pointing_at(v, old, new) for v in value]
    return new if value == old else value


def _keeping_other_identifiers(incoming: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """The person's own source re-sends its Patient: identifiers of systems it does not send stay."""
    sent = {i.get("system") for i in incoming.get("identifier", [])}
    kept = [i for i in stored.get("identifier", []) if i.get("system") not in sent]
    return incoming | {"identifier": [*incoming.get("identifier", []), *kept]} if kept else incoming
