"""Hidden means hidden: what names a withheld item follows that item's decision (docs/architecture.md).

A Provenance exists because of its targets and a List because of its entries; any resource may
reference another. Once a request's items are decided, every released item that names a withheld
one is cut loose from it: a Provenance loses those targets and their source entities (and is not
sent at all when every target is withheld — the targets' own notices already say whom to ask), a
List loses those entries, and any other reference to a hidden item goes while a reference to a
noticed item loses its display text. Removing what names a *noticed* item labels the copy
REDACTED; removing what names a *hidden* item leaves no mark.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from gateway.disclosure.enforce import Decisions, Released
from gateway.policy.redact import REDACTED

# References as orjson writes them (no spaces): cheap to find in the stored text without parsing.
_REFERENCE = re.compile(r'"reference":"([A-Za-z]{1,64}/[A-Za-z0-9\-.]{1,64})"')
_DROP = object()
DERIVED_RULE = "derived:names-withheld-item"
SourceKeys = Callable[[Iterable[str]], dict[str, tuple[str | None, str | None]]]


def references_in(raw: str) -> set[str]:
    return set(_REFERENCE.findall(raw))


def follow_withheld(decisions: Decisions, released: list[Released], source_keys: SourceKeys) -> list[Released]:
    """``released`` with what names a withheld item removed; drops items that only name withheld ones."""
    withheld = decisions.withheld()
    if not withheld:
        return released
    kept: list[Released] = []
    for item in released:
        named = references_in(item.stored.raw if item.edited is None else orjson.dumps(item.edited).decode())
        named &= withheld.keys()
        if not named:
            kept.append(item)
            continue
        entry = decisions.entries[(item.ref, item.stored.version_id)]
        content = item.resource
        if item.stored.resource_type == "Provenance" and all(
                _target(t) in withheld for t in content.get("target") or ()):
            entry.update(effect="hide", rule_ids=(DERIVED_RULE,))
            continue
        hidden = {r for r in named if withheld[r] == "hide"}
        noticed = named - hidden
        edited = _cut(orjson.loads(orjson.dumps(content)), hidden, noticed, source_keys)
        if noticed:
            meta = edited.setdefault("meta", {})
            security = meta.setdefault("security", [])
            if REDACTED not in security:
                security.append(dict(REDACTED))
        entry["unlinked"] = tuple(sorted(named))
        kept.append(Released(item.stored, item.decision, edited))
    return kept


def _target(reference: Any) -> str | None:
    return reference.get("reference") if isinstance(reference, dict) else None


def _cut(resource: dict[str, Any], hidden: set[str], noticed: set[str], source_keys: SourceKeys) -> dict[str, Any]:
    gone = hidden | noticed
    rtype = resource.get("resourceType")
    if rtype == "Provenance":
        cut = [_target(t) for t in resource.get("target") or () if _target(t) in gone]
        _keep(resource, "target", lambda t: _target(t) not in gone)
        keys = {k for k in source_keys([r for r in cut if r]).values() if k[1]}
        _keep(resource, "entity", lambda e: _entity_key(e) not in keys)
    elif rtype == "List":
        _keep(resource, "entry", lambda e: _target((e or {}).get("item")) not in gone)
    out = _unlink(resource, hidden, noticed)
    return out if isinstance(out, dict) else {"resourceType": rtype, "id": resource.get("id")}


def _keep(resource: dict[str, Any], key: str, wanted: Callable[[Any], bool]) -> None:
    values = [v for v in resource.get(key) or () if wanted(v)]
    if values:
        resource[key] = values
    else:
        resource.pop(key, None)


def _entity_key(entity: Any) -> tuple[str | None, str | None]:
    """(source system, source record id) named by a Provenance entity (gateway/ingest/provenance.py)."""
    ident = ((entity or {}).get("what") or {}).get("identifier") or {}
    system = str(ident.get("system", ""))
    return system.rsplit("/", 1)[-1] if "/" in system else None, ident.get("value")


def _unlink(value: Any, hidden: set[str], noticed: set[str]) -> Any:
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str) and ref in hidden:
            return _DROP
        out = {}
        for key, child in value.items():
            new = _unlink(child, hidden, noticed)
            if new is not _DROP:
                out[key] = new
        if isinstance(ref, str) and ref in noticed:
            out.pop("display", None)
        return out
    if isinstance(value, list):
        items = [v for v in (_unlink(c, hidden, noticed) for c in value) if v is not _DROP]
        return items if items else _DROP
    return value
