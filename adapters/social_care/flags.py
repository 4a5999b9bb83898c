"""<Alert> -> staff-safety Flag, <Access> -> access Flags, <Concern> -> safeguarding Flag.

Narratives go into extensions (EXT_DETAIL, EXT_ACCESS_VALUE) and never into Flag.code, so the
policy can release "there is a dangerous dog" while withholding the incident report.
"""
from __future__ import annotations

from adapters.base import MappedRecord
from adapters.conventions import ITEM_ACCESS, ITEM_KEYSAFE, ITEM_SAFEGUARDING
from adapters.fhir_helpers import (
    RISK_CODES,
    access_flag,
    concept,
    local_item,
    org_ref,
    risk_flag,
    safeguarding_flag,
)
from adapters.social_care.model import Export, Item, ItemError
from adapters.social_care.xml_input import children, text

_CLOSED_ENQUIRY = {"closed", "concluded", "no-further-action", "section-42-enquiry-closed"}


def _status(item: Item, active: bool = True) -> str:
    return "entered-in-error" if item.retracted else ("active" if active else "inactive")


def alert(export: Export, item: Item) -> list[MappedRecord]:
    code, summary = item.attr("code"), item.text("Summary")
    if not code and not summary:
        raise ItemError(f"{item.path}/@code", "alert has neither a code nor a Summary")
    flag = risk_flag(export.id("Flag", item.id), export.patient_id,
                     local_item(code, RISK_CODES.get(code), summary) if code else concept(None, None, text=summary),
                     detail=item.text("Detail"), status=_status(item), start=item.date("raised"),
                     author=org_ref(export.council))
    kind = item.attr("type")
    if kind and kind != "risk-to-staff":  # keep the sender's alert type next to `safety`
        flag["category"].append(concept(None, None, text=kind))
    if extra := item.unmapped({"Summary", "Detail"}):
        flag.setdefault("extension", []).append(extra)
    return [export.item_record(item, flag)]


def access(export: Export, item: Item) -> list[MappedRecord]:
    """One access Flag per part (key-safe code, instructions), as the HL7 feed sends them."""
    records = []
    for part, code, display in (("KeySafe", ITEM_KEYSAFE, "Key safe code"),
                                ("Instructions", ITEM_ACCESS, "Access instructions")):
        if (value := item.text(part)) is None:
            continue
        key = f"{item.id}/{part}"
        flag = access_flag(export.id("Flag", key), export.patient_id, code, display, value,
                           status=_status(item), author=org_ref(export.council))
        if part == "Instructions" and (extra := item.unmapped({"KeySafe", "Instructions"})):
            flag["extension"].append(extra)
        records.append(export.item_record(item, flag, key, part))
    if not records:
        raise ItemError(item.path, "access item has neither KeySafe nor Instructions")
    return records


def concern(export: Export, item: Item) -> list[MappedRecord]:
    """Every child of a Concern (detail, alleged source, enquiry notes) is safeguarding.detail."""
    enquiry = None if item.retracted else item.attr("status")
    parts = [(name, text(child)) for name, child in children(item.elem)]
    detail = "\n\n".join(value if name == "Detail" else f"{name}: {value}"
                         for name, value in parts if value) or None
    flag = safeguarding_flag(export.id("Flag", item.id), export.patient_id,
                             local_item(ITEM_SAFEGUARDING, "Safeguarding concern"),
                             enquiry_status=enquiry, detail=detail,
                             status=_status(item, enquiry not in _CLOSED_ENQUIRY),
                             start=item.date("raised"), author=org_ref(export.council))
    return [export.item_record(item, flag)]
