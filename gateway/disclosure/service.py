"""The one enforcement point: every path that lets record content out goes through here.

A :class:`Disclosure` is one request under one policy snapshot (HAPI's consent service sees an
operation from start to completion; Cedar decides one request against one policy set):

1. :meth:`DisclosureService.open` pins the live policy and runs the request check (may this
   request proceed at all); a refusal raises :class:`Refused`, carrying the patients it concerned;
2. :meth:`Disclosure.decide` labels the candidates under that policy, decides every item and
   element group, redacts, and cuts what names withheld items loose (gateway/disclosure/derived.py);
3. :meth:`Disclosure.notice_outcome` aggregates the notices of those same decisions;
4. :meth:`Disclosure.record` builds the audit record from those same decisions and what was sent;
   :meth:`DisclosureService.commit` makes it durable — only then may the caller send anything.

Routes fetch candidates and hand them here; the IG tools (gateway/disclosure/analysis.py) and the
benchmarks use the same objects, so a simulation is exactly what would be served.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.base import NHS_NUMBER_SYSTEM
from adapters.conventions import RECORD_WARNING_SYSTEM
from gateway.audit import AuditLog
from gateway.audit.model import AuditEntry
from gateway.disclosure.derived import follow_withheld, references_in
from gateway.disclosure.enforce import ContextCache, Decisions, Released, enforce
from gateway.disclosure.labels import LiveLabels
from gateway.disclosure.notices import NoticeLine, OrganisationNames, aggregate, outcome_resource, record_warnings
from gateway.policy.engine import PolicyEngine
from gateway.policy.model import RequestDecision
from gateway.requester import Requester
from gateway.store import ResourceStore, StoredResource


class Refused(Exception):
    """The request check said no: nothing is decided; the disclosure says whom it concerned."""

    def __init__(self, disclosure: Disclosure) -> None:
        super().__init__(disclosure.request.reason)
        self.disclosure = disclosure


@dataclass
class Caller:
    """What the audit record says about the request besides the decisions (the API fills it)."""

    interaction: str
    request_id: str | None = None
    query: str | None = None
    client: str | None = None


@dataclass
class Disclosure:
    service: DisclosureService
    engine: PolicyEngine  # pinned: every decision, notice and the audit record of this request use it
    requester: Requester
    request: RequestDecision
    patients: dict[str, str | None] = field(default_factory=dict)  # asked about (refusals included): id -> NHS
    decisions: Decisions = field(default_factory=Decisions)
    contexts: ContextCache | None = None
    warnings: list[tuple[str | None, str, str]] = field(default_factory=list)  # (holder, code, wording)
    opened: datetime = field(default_factory=lambda: datetime.now().astimezone())  # local time: care is local

    @property
    def version(self) -> str:
        return self.engine.version

    def about(self, patient_id: str | None = None, nhs_number: str | None = None) -> None:
        """Name a patient this request concerns, before anything is decided (so refusals name them too)."""
        if patient_id:
            self.patients.setdefault(patient_id, nhs_number)
        elif nhs_number:
            self.patients.setdefault(f"nhs:{nhs_number}", nhs_number)

    def decide(self, candidates: Iterable[StoredResource],
               compartment: Sequence[StoredResource] | None = None) -> list[Released]:
        """Label, decide and redact ``candidates``; returns what may be sent, in order.

        With ``compartment`` (the patient's whole record, candidates among it) references are
        checked against the compartment's decisions; otherwise the items released items name are
        fetched and decided too, so that nothing names a withheld item."""
        store = self.service.store
        if self.contexts is None:
            self.contexts = ContextCache(store, self.opened.date())
        candidates = [s for s in candidates if self._in_scope(s)]
        self.warnings += [w for s in candidates if RECORD_WARNING_SYSTEM in s.raw for w in _warnings(s)]
        self.service.labels.apply(self.engine, candidates)
        released = enforce(self.engine, self.requester, self.contexts, candidates, self.decisions, compartment)
        if compartment is None:
            self._decide_named(released)
        released = follow_withheld(self.decisions, released, store.source_keys)
        self.decisions.released.extend(released)
        return released

    def _in_scope(self, stored: StoredResource) -> bool:
        """A token scoped to one person (a `patient` claim, whatever the role) sees nothing of anyone
        else: such items are not candidates at all, exactly as if they did not exist."""
        if self.requester.patient is None:
            return True
        patient_id = stored.patient_id or (stored.id if stored.resource_type == "Patient" else None)
        if patient_id is None:
            return True  # directory data (an Organization, a Practitioner) is about nobody
        assert self.contexts is not None
        return self.contexts.get(patient_id).nhs_number == self.requester.patient

    def _decide_named(self, released: list[Released]) -> None:
        named = set().union(*(references_in(r.stored.raw) for r in released)) if released else set()
        decided = {ref for ref, _ in self.decisions.entries}
        wanted = [_type_and_id(r) for r in named - decided]
        if not wanted:
            return
        others = self.service.store.get_many(wanted)
        self.service.labels.apply(self.engine, others)
        # Decided for what they imply about the released items only: not sent, not audited as sent.
        shadow = Decisions()
        enforce(self.engine, self.requester, self.contexts or ContextCache(self.service.store), others, shadow)
        for key, entry in shadow.entries.items():
            if entry["effect"] in ("notice", "hide"):
                self.decisions.entries.setdefault(key, {**entry, "named_only": True})

    def notice_lines(self) -> list[NoticeLine]:
        lines = aggregate(self.decisions.notices, self.requester, self.service.names)
        # A source's warning that its record is incomplete goes to whoever receives any of that record.
        holders = {r.stored.holder_org for r in self.decisions.released}
        return lines + record_warnings([w for w in self.warnings if w[0] in holders], self.service.names)

    def notice_outcome(self) -> dict[str, Any] | None:
        lines = self.notice_lines()
        return outcome_resource(lines) if lines else None

    def record(self, caller: Caller, *, sent: Iterable[Released] = (), outcome: str = "disclosed", status: int = 200,
               reason: str | None = None, not_modified: bool = False) -> dict[str, Any]:
        """The audit record of this request: built from its decisions and exactly what was sent."""
        d = self.decisions
        sent_keys = {(r.ref, r.stored.version_id) for r in sent}
        items: dict[str, list[dict[str, Any]]] = {"released": [], "redacted": [], "noticed": [], "hidden": []}
        bucket = {"release": "released", "redact": "redacted", "notice": "noticed", "hide": "hidden"}
        for key, entry in d.entries.items():
            if entry.get("named_only"):
                continue
            effect = entry["effect"]
            if effect in ("release", "redact") and key not in sent_keys:
                continue  # matched but not on this page: not disclosed
            item = {k: (list(v) if isinstance(v, tuple) else v) for k, v in entry.items() if k != "effect"}
            if not_modified:
                item["not_modified"] = True
            items[bucket[effect]].append(item)
        categories = list(dict.fromkeys(c for bucket_items in items.values() for i in bucket_items
                                        for c in i.get("categories", ())))
        refs = _patient_refs(self.patients, d.patient_nhs, self.service.nhs_number_of)
        obligations = set(self.request.obligations) | d.obligations if outcome != "refused" else set()
        r = self.requester
        return {
            "time": datetime.now(UTC).isoformat(),
            "request_id": caller.request_id,
            "requester": {"user": r.user, "name": r.name, "role": r.role, "org": r.org, "team": r.team},
            "purpose": r.purpose,
            "justification": r.justification,
            "client": r.client or caller.client,
            "interaction": caller.interaction,
            "query": caller.query,
            "patients": refs,
            "relationship": all(d.relationship.values()) if d.relationship else None,
            "items": items,
            "notices": [{"category": n.category, "redacted": n.redacted, "holder_org": n.holder_org,
                         "holder_team": n.holder_team, "count": n.count} for n in self.notice_lines()],
            "categories": categories,
            "rule_ids": list(self.request.rule_ids),
            "policy_version": self.version,
            "outcome": outcome,
            "status": status,
            "reason": reason,
            "obligations": sorted(obligations),
        }


def _patient_refs(asked: dict[str, str | None], decided: dict[str, str | None],
                  nhs_number_of: Any) -> list[dict[str, str | None]]:
    """Every patient the request concerned: those it named (a refusal's too) and those decided.
    A person named only by NHS number ("nhs:<number>") is dropped once found by id."""
    by_id = {**{k: v for k, v in asked.items() if not k.startswith("nhs:")}, **decided}
    found = {nhs for nhs in by_id.values() if nhs}
    refs = [{"id": pid, "nhs_number": nhs if nhs is not None else nhs_number_of(pid)}
            for pid, nhs in sorted(by_id.items())]
    refs += [{"id": None, "nhs_number": nhs} for key, nhs in sorted(asked.items())
             if key.startswith("nhs:") and nhs not in found]
    return refs


def _warnings(stored: StoredResource) -> list[tuple[str | None, str, str]]:
    tags = (stored.content.get("meta") or {}).get("tag") or []
    return [(stored.holder_org, str(t.get("code")), str(t.get("display") or t.get("code")))
            for t in tags if isinstance(t, dict) and t.get("system") == RECORD_WARNING_SYSTEM]


class DisclosureService:
    def __init__(self, store: ResourceStore, policies: Any, audit: AuditLog) -> None:
        self.store = store
        self.policies = policies  # a PolicyHolder: .engine is the live policy of this process
        self.audit = audit
        self.labels = LiveLabels()
        self.names = OrganisationNames(store)

    def open(self, requester: Requester, *, patient_id: str | None = None, nhs_number: str | None = None,
             engine: PolicyEngine | None = None) -> Disclosure:
        """Pin the live policy (or ``engine``: a candidate, for simulation) and check the request."""
        pinned = engine if engine is not None else self.policies.engine
        disclosure = Disclosure(self, pinned, requester, pinned.check_request(requester))
        disclosure.about(patient_id, nhs_number)
        if not disclosure.request.allowed:
            raise Refused(disclosure)
        return disclosure

    def commit(self, record: dict[str, Any]) -> AuditEntry:
        """Durably append; raises AuditWriteError (the caller then sends nothing but a 503)."""
        return self.audit.append(record)

    def nhs_number_of(self, patient_id: str) -> str | None:
        patient = self.store.get("Patient", patient_id)
        if patient is None:
            return None
        return next((i.get("value") for i in patient.content.get("identifier") or []
                     if i.get("system") == NHS_NUMBER_SYSTEM), None)


def _type_and_id(reference: str) -> tuple[str, str]:
    kind, _, rid = reference.partition("/")
    return kind, rid
