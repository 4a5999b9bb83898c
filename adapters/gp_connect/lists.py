"""GP Connect Lists: their gateway identity, and the warnings that say the GP record is incomplete.

*Identity.* GP Connect forbids ``List.id`` (a List is built per query, not stored), so a List is
named by what identifies it: the practice (the source system), the patient (NHS number, else the
Patient's logical id) and the clinical area (``List.code``; the title as well when two Lists of one
Bundle share a code). Re-sending the record therefore updates the same List.

*Warnings.* A List may say the record is incomplete: items withheld for confidentiality or patient
preference, a GP-to-GP transfer not yet complete, third-party data awaiting filing. GP Connect sends
a ``ListWarningCode`` extension and the associated text in ``List.note``; some senders only the
note. Both are kept as sent, and each warning found is also stated as a ``meta.tag`` in
:data:`RECORD_WARNING_SYSTEM` (code = the GP Connect warning code) so that the disclosure layer can
turn it into a notice ("the GP record is incomplete") without reading free text. The adapter also
puts the codes in the record's hints under :data:`HINT_RECORD_INCOMPLETE`.
"""
from __future__ import annotations

from typing import Any

from adapters.base import SNOMED
from adapters.conventions import RECORD_WARNING_SYSTEM
from adapters.gp_connect.terminology import careconnect_extension_name

HINT_RECORD_INCOMPLETE = "gp_record_incomplete"

# GP Connect List warning codes -> display (the start of the associated text senders must put in
# List.note; the full texts carry a date, so the note is matched by phrases, below).
WARNINGS: dict[str, str] = {
    "confidential-items": "Items excluded due to confidentiality and/or patient preferences",
    "data-in-transit": "Patient record transfer from previous GP practice not yet complete",
    "data-awaiting-filing": "Patient record contains some items in the GP practice workflow that have not "
                            "been reviewed for inclusion",
}
# code -> alternative phrase sets (all phrases of one set must occur): the texts of successive
# GP Connect versions.
_NOTE_PHRASES: dict[str, tuple[tuple[str, ...], ...]] = {
    "confidential-items": (("items excluded due to confidentiality",),),
    "data-in-transit": (("record transfer", "not yet complete"),),
    "data-awaiting-filing": (("not been reviewed for inclusion",), ("awaiting review", "third party")),
}


def list_key(resource: dict[str, Any]) -> str | None:
    """What tells a List apart from the patient's other Lists: its SNOMED (else any) code, or title."""
    code = resource.get("code")
    codings = code.get("coding") if isinstance(code, dict) else None
    found = [c for c in codings if isinstance(c, dict) and isinstance(c.get("code"), str)] \
        if isinstance(codings, list) else []
    preferred = next((c for c in found if c.get("system") == SNOMED), found[0] if found else None)
    if preferred is not None:
        return f"code:{preferred['code']}"
    title = resource.get("title")
    return f"title:{title}" if isinstance(title, str) and title else None


def warning_codes(resource: dict[str, Any]) -> list[str]:
    """The record-incompleteness warnings a (STU3 or R4) List carries, by extension or by note."""
    found: list[str] = []
    extensions = resource.get("extension")
    for ext in extensions if isinstance(extensions, list) else []:
        if isinstance(ext, dict) and isinstance(ext.get("url"), str) \
                and careconnect_extension_name(ext["url"]) == "ListWarningCode":
            code = ext.get("valueCode")
            if isinstance(code, str) and code:
                found.append(code)
    notes = resource.get("note")
    for note in notes if isinstance(notes, list) else [notes]:
        text = note.get("text") if isinstance(note, dict) else None
        if not isinstance(text, str):
            continue
        lowered = text.casefold()
        found += [code for code, alternatives in _NOTE_PHRASES.items()
                  if any(all(p in lowered for p in phrases) for phrases in alternatives)]
    return list(dict.fromkeys(found))


def map_list(resource: dict[str, Any]) -> dict[str, Any]:
    """Keep the List as sent (notes, emptyReason, extensions) and tag each warning it carries."""
    codes = warning_codes(resource)
    if codes:
        meta = resource.setdefault("meta", {})
        if isinstance(meta, dict):
            tags = meta.setdefault("tag", [])
            tags = meta["tag"] = tags if isinstance(tags, list) else [tags]
            tags += [{"system": RECORD_WARNING_SYSTEM, "code": code, "display": WARNINGS.get(code, code)}
                     for code in codes]
    return resource


def tagged_warnings(resource: dict[str, Any]) -> list[str]:
    """The warning codes :func:`map_list` tagged on an R4 List."""
    meta = resource.get("meta")
    tags = meta.get("tag") if isinstance(meta, dict) else None
    return [t["code"] for t in tags if isinstance(t, dict) and t.get("system") == RECORD_WARNING_SYSTEM] \
        if isinstance(tags, list) else []
