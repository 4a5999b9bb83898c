"""Searchset Bundles: one page of matches, their includes, and the withheld-items OperationOutcome.

Returns the Bundle with the items it actually carries, so that the audit record lists exactly what
left (a page, not every match).
"""
from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from gateway.disclosure.enforce import Released


def entry(base_url: str, released: Released, mode: str) -> dict[str, Any]:
    return {"fullUrl": f"{base_url}/{released.stored.resource_type}/{released.stored.id}",
            "resource": released.body(), "search": {"mode": mode}}


def searchset(base_url: str, path: str, params: list[tuple[str, str]], matches: list[Released], *,
              offset: int, count: int | None, includes: list[Released] | None = None,
              outcome: dict[str, Any] | None = None,
              summary_count: bool = False) -> tuple[dict[str, Any], list[Released]]:
    total = len(matches)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": total}
    kept = [(k, v) for k, v in params if k not in ("_offset",)]
    links = [{"relation": "self", "url": _url(base_url, path, kept + ([("_offset", str(offset))] if offset else []))}]
    if summary_count:
        bundle["link"] = links
        return bundle, []
    page = matches[offset: offset + count] if count is not None else matches[offset:]
    # _count=0 asks for the total only: no next link (a client following it would never stop).
    if count and offset + count < total:
        links.append({"relation": "next", "url": _url(base_url, path, kept + [("_offset", str(offset + count))])})
    if count and offset > 0:
        links.append({"relation": "previous",
                      "url": _url(base_url, path, kept + [("_offset", str(max(0, offset - count)))])})
    bundle["link"] = links
    sent = [*page, *(includes or ())]
    entries = [entry(base_url, r, "match") for r in page]
    entries += [entry(base_url, r, "include") for r in includes or ()]
    if outcome is not None and offset == 0:
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": outcome,
                        "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle, sent


def _url(base_url: str, path: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params)
    return f"{base_url}/{path}" + (f"?{query}" if query else "")
