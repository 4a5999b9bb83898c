"""What the caller does not get, said once per (category, holder): the withheld-items OperationOutcome.

Each issue counts the items withheld (or sent with fields removed) of one category held by one
organisation or team, names the holder by name, says how to reach them — and never points the
caller at its own organisation, whose record it already has another way into.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from adapters.base import ODS_SYSTEM
from adapters.conventions import DATA_CATEGORY
from gateway.policy.model import Notice
from gateway.requester import Requester
from gateway.store import ResourceStore


class OrganisationNames:
    """ODS code -> organisation name, from the stored Organization resources (found names are kept)."""

    def __init__(self, store: ResourceStore) -> None:
        self._store = store
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()

    def name(self, code: str | None) -> str | None:
        if not code:
            return None
        with self._lock:
            known = self._known.get(code)
        if known is not None:
            return known
        found = next((str(o.content["name"]) for o in self._store.find_by_identifier("Organization", ODS_SYSTEM, code)
                      if o.content.get("name")), None)
        if found is not None:
            with self._lock:
                self._known[code] = found
        return found


@dataclass(frozen=True)
class NoticeLine:
    category: str
    redacted: bool
    holder_org: str | None
    holder_team: str | None
    count: int
    holder: str | None  # the holder as the caller reads it; None when it is the caller's own organisation
    contact: str | None
    text: str


def _items(n: int) -> str:
    return f"{n} item" if n == 1 else f"{n} items"


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")) if text else ""


def aggregate(notices: Iterable[Notice], requester: Requester, names: OrganisationNames) -> list[NoticeLine]:
    groups: dict[tuple[str, bool, str | None, str | None], list[Notice]] = {}
    for n in notices:
        groups.setdefault((n.category, n.redacted, n.holder_org, n.holder_team), []).append(n)
    lines = []
    for (category, redacted, org, team), members in groups.items():
        count = len(members)
        reasons = " ".join(_sentence(r) for r in dict.fromkeys(r for m in members for r in m.reasons))
        what = (f"Fields of category {category} were removed from {_items(count)} sent" if redacted
                else f"{_items(count)} of category {category} {'was' if count == 1 else 'were'} withheld")
        what = what[:1].upper() + what[1:]
        own = org is not None and org == requester.org
        if own:
            holder, contact = None, None
            text = (f"{what}: recorded by your own organisation, but not released to your role for this "
                    "purpose.")
        else:
            person = next((m.holder_name for m in members if m.holder_name), None)
            contact = next((m.contact for m in members if m.contact), None)
            org_name = names.name(org)
            where = (f"{org_name} ({org})" if org_name and org else org_name or org)
            parts = [person, team if not person else None, where if not (org_name and person == org_name) else None]
            holder = ", ".join(dict.fromkeys(x for x in parts if x)) or None
            text = f"{what}; held by {holder}" if holder else f"{what}; the holding organisation is not recorded"
            text += (f"; contact {contact}." if contact else
                     "; no contact details are recorded for them - your information-governance lead can ask on "
                     "your behalf.")
        if reasons:
            text += " " + reasons
        lines.append(NoticeLine(category, redacted, org, team, count, holder, contact, text))
    return lines


def outcome_resource(lines: list[NoticeLine]) -> dict[str, Any]:
    """The Bundle entry (search.mode = outcome) that tells the caller what was withheld and whom to ask."""
    return {
        "resourceType": "OperationOutcome",
        "id": "withheld-items",
        "issue": [
            {
                "severity": "information",
                "code": "suppressed",
                "details": {"coding": [{"system": DATA_CATEGORY, "code": line.category}], "text": line.text},
                "diagnostics": "; ".join(x for x in (line.holder, line.contact) if x) or line.category,
            }
            for line in lines
        ],
    }
