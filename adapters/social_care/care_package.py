"""<Service> -> CarePlan (category LOCAL_ITEM|CAREPACKAGE) and its provider as a care-team member."""
from __future__ import annotations

import re

from adapters.base import MappedRecord
from adapters.conventions import ITEM_CARE_PACKAGE
from adapters.fhir_helpers import (
    compact,
    concept,
    local_item,
    org_ref,
    participant,
    period,
    ref,
)
from adapters.social_care.contacts import Member
from adapters.social_care.model import Export, Item, ItemError

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


def _times(item: Item) -> list[str]:
    raw = item.attr("times")
    if not raw:
        return []
    times = []
    for part in (p.strip() for p in raw.split(",")):
        if not (match := _TIME.match(part)):
            raise ItemError(f"{item.path}/@times", f"{part!r} is not a time (HH:MM)")
        times.append(f"{match.group(1)}:{match.group(2)}:{match.group(3) or '00'}")
    return times


def _calls(item: Item) -> int | None:
    raw = item.attr("callsPerDay")
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ItemError(f"{item.path}/@callsPerDay", f"{raw!r} is not a positive whole number")
    return int(raw)


def service(export: Export, item: Item) -> list[MappedRecord | Member]:
    kind = item.attr("type") or "care service"
    provider = org_ref(item.attr("providerOds"), item.attr("provider"))
    calls, times = _calls(item), _times(item)
    start, end = item.date("start"), item.date("end")
    finished = bool(end and export.exported and end <= export.exported.date().isoformat())
    status = "entered-in-error" if item.retracted else ("completed" if finished else "active")
    frequency = (f"{calls} call{'s' if calls != 1 else ''} per day" if calls else None)
    description = "; ".join(p for p in (kind.replace("-", " "), frequency,
                                        ", ".join(t[:5] for t in times) or None,
                                        item.attr("provider")) if p)
    repeat = {"frequency": calls or len(times) or None, "period": 1 if calls or times else None,
              "periodUnit": "d" if calls or times else None, "timeOfDay": times}
    resource = compact({
        "resourceType": "CarePlan", "id": export.id("CarePlan", item.id),
        "extension": [item.unmapped(set())],
        "status": status, "intent": "plan",
        "category": [local_item(ITEM_CARE_PACKAGE, "Care package")],
        "title": kind.replace("-", " ").capitalize(), "description": description,
        "subject": ref("Patient", export.patient_id), "period": period(start, end),
        "author": provider, "contributor": [org_ref(export.council)],
        "activity": [{"detail": {
            "code": concept(None, None, text=kind), "status": {
                "entered-in-error": "entered-in-error", "completed": "completed"}.get(status, "in-progress"),
            "scheduledTiming": {"repeat": repeat}, "performer": [provider],
            "description": description}}],
    })
    out: list[MappedRecord | Member] = [export.item_record(item, resource)]
    live = provider and not item.retracted and not finished
    out.append(Member(participant("home-care-provider", provider, start=start, end=end) if live else None,
                      item.updated))
    return out
