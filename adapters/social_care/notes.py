"""<Note> -> DocumentReference (type LOCAL_ITEM|CASENOTE), the text as a base64 attachment."""
from __future__ import annotations

import base64

from adapters.base import MappedRecord
from adapters.conventions import EXT_SOURCE_SECTION, ITEM_CASE_NOTE
from adapters.fhir_helpers import (
    compact,
    ext_string,
    local_item,
    org_ref,
    person_ref,
    ref,
)
from adapters.social_care.model import Export, Item
from adapters.social_care.xml_input import text


def note(export: Export, item: Item) -> list[MappedRecord]:
    body = text(item.elem) or ""
    author = item.attr("author")
    resource = compact({
        "resourceType": "DocumentReference", "id": export.id("DocumentReference", item.id),
        "extension": [ext_string(EXT_SOURCE_SECTION, item.section)],
        "status": "entered-in-error" if item.retracted else "current",
        "type": local_item(ITEM_CASE_NOTE, "Case note"),
        "subject": ref("Patient", export.patient_id), "date": item.updated.isoformat(),
        "author": [person_ref(None, None, author)], "custodian": org_ref(export.council),
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8",
                                    "data": base64.b64encode(body.encode("utf-8")).decode("ascii"),
                                    "creation": item.date("date")}}],
    })
    return [export.item_record(item, resource)]
