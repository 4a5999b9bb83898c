"""Searchset Bundles: matches, includes, and one OperationOutcome entry carrying the notices."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from gateway.api.enforcement import Filtered, Released
from gateway.policy.model import Notice


def notice_outcome(notices: list[Notice]) -> dict[str, Any]:
    """One informational issue per withheld item: its category, who holds it and how to reach them."""
    return {
        "resourceType": "OperationOutcome",
        "id": "withheld-items",
        "issue": [
            {
                "severity": "information",
                "code": "suppressed",
                "details": {
                    "coding": [{"system": "https://fhir.care-gateway.example/CodeSystem/data-category",
                                "code": n.category}],
                    "text": n.message,
                },
                "diagnostics": "; ".join(x for x in (n.holder_name or n.holder_org, n.contact) if x) or n.category,
            }
            for n in notices
        ],
    }


def entry(base_url: str, released: Released, mode: str) -> dict[str, Any]:
    return {"fullUrl": f"{base_url}/{released.stored.resource_type}/{released.stored.id}",
            "resource": released.body(), "search": {"mode": mode}}


def searchset(base_url: str, path: str, params: list[tuple[str, str]], filtered: Filtered, *,
              offset: int, count: int | None, includes: list[Released] | None = None,
              summary_count: bool = False) -> dict[str, Any]:
    total = len(filtered.released)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": total}
    if summary_count:
        return bundle
    page = filtered.released[offset: offset + count] if count is not None else filtered.released[offset:]
    kept = [(k, v) for k, v in params if k not in ("_offset",)]
    links = [{"relation": "self", "url": _url(base_url, path, kept + ([("_offset", str(offset))] if offset else []))}]
    if count is not None and offset + count < total:
        links.append({"relation": "next", "url": _url(base_url, path, kept + [("_offset", str(offset + count))])})
    if count is not None and offset > 0:
        links.append({"relation": "previous",
                      "url": _url(base_url, path, kept + [("_offset", str(max(0, offset - count)))])})
    bundle["link"] = links
    entries = [entry(base_url, r, "match") for r in page]
    entries += [entry(base_url, r, "include") for r in includes or ()]
    if filtered.notices and offset == 0:
        entries.append({"fullUrl": "urn:uuid:withheld-items", "resource": notice_outcome(filtered.notices),
                        "search": {"mode": "outcome"}})
    bundle["entry"] = entries
    return bundle


def _url(base_url: str, path: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params)
    return f"{base_url}/{path}" + (f"?{query}" if query else "")
