"""Attached documents: DocumentReference."""
from __future__ import annotations

from typing import Any

from adapters.gp_connect.common import each_object, rename
from adapters.gp_connect.fields import expect, keep_unmapped, take

# STU3 composition status "appended" was folded into "amended" in R4.
_DOC_STATUS = {"appended": "amended"}


def map_document_reference(resource: dict[str, Any]) -> dict[str, Any]:
    doc_class = take(resource, "class", dict)
    if doc_class is not None:
        resource["category"] = [doc_class]
    rename(resource, "indexed", "date")
    _created(resource)
    _doc_status(resource)
    context = resource.get("context")
    if context is not None:
        _context(expect(context, dict, "context"))
    return resource


def _created(resource: dict[str, Any]) -> None:
    """STU3 ``created`` (when the document was written) -> R4 ``content[].attachment.creation``."""
    created = take(resource, "created", str)
    if created is None:
        return
    placed = False
    for path, content in each_object(resource, "content"):
        attachment = expect(content.get("attachment"), dict, f"{path}.attachment")
        if "creation" not in attachment:
            attachment["creation"] = created
            placed = True
    if not placed:
        keep_unmapped(resource, "created", created)


def _doc_status(resource: dict[str, Any]) -> None:
    status = resource.get("docStatus")
    if isinstance(status, str) and status in _DOC_STATUS:
        keep_unmapped(resource, "docStatus", status)
        resource["docStatus"] = _DOC_STATUS[status]


def _context(context: dict[str, Any]) -> None:
    related = []
    for path, item in each_object(context, "related"):
        reference = dict(expect(item.get("ref", {}), dict, f"context.{path}.ref"))
        if "identifier" in item:
            reference["identifier"] = item["identifier"]
        related.append(reference)
    if related:
        context["related"] = related
