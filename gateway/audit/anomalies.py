"""Reports of unusual access, over any sequence of audit entries (e.g. ``log.iter_entries(since=...)``).

Each check is a plain function returning Anomaly values; ``report`` runs them all. Thresholds are
parameters because what counts as unusual differs between a GP practice and a hospital."""
from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.audit.model import AuditEntry


@dataclass(frozen=True)
class Anomaly:
    kind: str  # many_patients | no_relationship | out_of_hours_emergency | repeated_refusals
    user: str | None
    seqs: tuple[int, ...]
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "user": self.user, "seqs": list(self.seqs), "detail": self.detail}


def _disclosures(entries: Iterable[AuditEntry]) -> list[AuditEntry]:
    return sorted((e for e in entries if e.record.get("type") != "review"), key=lambda e: (e.time, e.seq))


def _user(entry: AuditEntry) -> str | None:
    return (entry.record.get("requester") or {}).get("user")


def _patients(entry: AuditEntry) -> set[str]:
    return {str(p.get("nhs_number") or p.get("id")) for p in entry.record.get("patients") or []
            if p.get("nhs_number") or p.get("id")}


class _Window:
    """What a sliding window knows about the entries inside it, updated as entries enter and leave —
    so a check costs O(entry) per step, not O(window): linear in one user's records overall."""

    def add(self, entry: AuditEntry) -> None: ...

    def remove(self, entry: AuditEntry) -> None: ...

    def clear(self) -> None: ...

    def describe(self, recent: deque[AuditEntry]) -> str | None:
        raise NotImplementedError


def _bursts(kind: str, by_user: dict[str | None, list[AuditEntry]], window: timedelta,
            state: Callable[[], _Window]) -> list[Anomaly]:
    """Slide a ``window`` over each user's entries; report (and start afresh) whenever the window's
    state finds the entries inside it anomalous — one report per burst. Each entry enters and leaves
    the window once, so the cost is linear in the entries (plus the sort of the caller)."""
    found: list[Anomaly] = []
    for user, items in by_user.items():
        recent: deque[AuditEntry] = deque()
        current = state()
        for entry in items:
            recent.append(entry)
            current.add(entry)
            while entry.time - recent[0].time > window:
                current.remove(recent.popleft())
            if (detail := current.describe(recent)) is not None:
                found.append(Anomaly(kind, user, tuple(e.seq for e in recent), detail))
                recent.clear()
                current.clear()
    return found


class _DistinctPatients(_Window):
    def __init__(self, max_patients: int, window: timedelta) -> None:
        self.max_patients, self.window = max_patients, window
        self.counts: Counter[str] = Counter()
        self.seen: dict[int, set[str]] = {}  # seq -> that entry's patients (computed once)

    def add(self, entry: AuditEntry) -> None:
        patients = self.seen[entry.seq] = _patients(entry)
        self.counts.update(patients)

    def remove(self, entry: AuditEntry) -> None:
        for patient in self.seen.pop(entry.seq, ()):
            self.counts[patient] -= 1
            if self.counts[patient] <= 0:
                del self.counts[patient]

    def clear(self) -> None:
        self.counts.clear()
        self.seen.clear()

    def describe(self, recent: deque[AuditEntry]) -> str | None:
        people = len(self.counts)
        return f"{people} patients within {self.window}" if people > self.max_patients else None


class _Count(_Window):
    def __init__(self, threshold: int, window: timedelta) -> None:
        self.threshold, self.window = threshold, window

    def describe(self, recent: deque[AuditEntry]) -> str | None:
        return f"{len(recent)} refusals within {self.window}" if len(recent) >= self.threshold else None


def many_patients(entries: Iterable[AuditEntry], *, max_patients: int = 20,
                  window: timedelta = timedelta(hours=1)) -> list[Anomaly]:
    """A user whose requests touch more than ``max_patients`` distinct people within ``window``."""
    by_user: dict[str | None, list[AuditEntry]] = defaultdict(list)
    for entry in _disclosures(entries):
        by_user[_user(entry)].append(entry)
    return _bursts("many_patients", by_user, window, lambda: _DistinctPatients(max_patients, window))


def no_relationship(entries: Iterable[AuditEntry]) -> list[Anomaly]:
    """Disclosures the API marked as made without a legitimate (care) relationship."""
    return [Anomaly("no_relationship", _user(e), (e.seq,),
                    f"{e.record.get('outcome')} without a care relationship (purpose {e.record.get('purpose')})")
            for e in _disclosures(entries)
            if e.record.get("relationship") is False and e.record.get("outcome") == "disclosed"]


def out_of_hours_emergency(entries: Iterable[AuditEntry], *, day_start: time = time(8),
                           day_end: time = time(18), tz: str = "Europe/London",
                           purposes: Sequence[str] = ("emergency",)) -> list[Anomaly]:
    """Emergency ("break-glass") access at night or at the weekend, local time."""
    zone = ZoneInfo(tz)
    found = []
    for e in _disclosures(entries):
        if e.record.get("purpose") not in purposes:
            continue
        local = e.time.astimezone(zone)
        if local.weekday() >= 5 or not day_start <= local.time() < day_end:
            found.append(Anomaly("out_of_hours_emergency", _user(e), (e.seq,),
                                 f"{e.record.get('purpose')} access at {local:%a %Y-%m-%d %H:%M} {tz}"))
    return found


def repeated_refusals(entries: Iterable[AuditEntry], *, threshold: int = 3,
                      window: timedelta = timedelta(hours=24)) -> list[Anomaly]:
    """A user refused ``threshold`` or more times within ``window``."""
    by_user: dict[str | None, list[AuditEntry]] = defaultdict(list)
    for e in _disclosures(entries):
        if e.record.get("outcome") == "refused":
            by_user[_user(e)].append(e)
    return _bursts("repeated_refusals", by_user, window, lambda: _Count(threshold, window))


def report(entries: Iterable[AuditEntry]) -> list[Anomaly]:
    """Every check with its default thresholds, in order of kind."""
    items = list(entries)
    return [*many_patients(items), *no_relationship(items), *out_of_hours_emergency(items),
            *repeated_refusals(items)]
