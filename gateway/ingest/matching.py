"""Match the person a message is about to one gateway Patient — by a valid NHS number only.

No silent merges (docs/architecture.md, invariant 7): a missing or invalid NHS number, several candidates or
disagreeing demographics hold the message for a person to review (``gateway match``).
"""
from __future__ import annotations

from typing import Any

import orjson

from adapters import nhs_number
from gateway.ingest.work import Work


def nhs_of(work: Work) -> str | None:
    """The (normalised) NHS number the message gives for its person, if any."""
    for labelled in work.records:
        if labelled.record.patient_nhs_number:
            return nhs_number.normalise(labelled.record.patient_nhs_number)
    return None


def _incoming_patient(work: Work) -> dict[str, Any] | None:
    return next((r for r in work.resources if r["resourceType"] == "Patient"), None)


def demographics_disagree(incoming: dict[str, Any], existing: dict[str, Any]) -> str | None:
    def family(p: dict[str, Any]) -> str | None:
        names = p.get("name") or []
        return (names[0].get("family") or "").strip().casefold() if names else None

    if incoming.get("birthDate") and existing.get("birthDate") and incoming["birthDate"] != existing["birthDate"]:
        return f"birth date {incoming['birthDate']} differs from stored {existing['birthDate']}"
    if family(incoming) and family(existing) and family(incoming) != family(existing):
        return f"family name {family(incoming)!r} differs from stored {family(existing)!r}"
    return None


def rewrite_patient_references(work: Work, old_id: str, new_id: str) -> None:
    """Point every reference at the matched Patient; the source's own Patient is then folded in."""
    old, new = f'"Patient/{old_id}"'.encode(), f'"Patient/{new_id}"'.encode()
    for labelled in work.records:
        resource = labelled.record.resource
        raw = orjson.dumps(resource)
        if old in raw:
            resource.clear()
            resource.update(orjson.loads(raw.replace(old, new)))


def match_patient(work: Work) -> Work:
    incoming = _incoming_patient(work)
    if work.forced_patient_id:
        work.patient_id = work.forced_patient_id
    else:
        number = nhs_of(work)
        if number is None:
            work.held_for_review = "no NHS number: cannot be linked to a person without review"
            return work
        if not nhs_number.is_valid(number):
            work.held_for_review = f"NHS number {number!r} fails the Modulus 11 check"
            return work
        # through the batch's transaction: earlier messages' rows are not committed yet
        found = work.batch.patients_with_nhs_number(number)
        if len(found) > 1:
            work.held_for_review = f"{len(found)} stored patients carry NHS number {number}"
            return work
        if found:
            existing_id, existing = found[0]
            if incoming is not None and (why := demographics_disagree(incoming, existing.parsed())):
                work.held_for_review = f"NHS number {number}: {why}"
                return work
            work.patient_id = existing_id
        elif incoming is not None:
            work.patient_id = incoming["id"]
        else:
            work.held_for_review = f"NHS number {number} is not known and the message has no Patient"
            return work
    if incoming is not None and incoming["id"] != work.patient_id:
        rewrite_patient_references(work, incoming["id"], work.patient_id)
    return work

