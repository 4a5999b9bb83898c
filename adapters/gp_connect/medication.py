"""Medicines: MedicationStatement, MedicationRequest, Medication, and the Dosage they share."""
from __future__ import annotations

from typing import Any

from adapters.gp_connect.common import (
    context_to_encounter,
    each_object,
    rename,
    requester_agent,
)
from adapters.gp_connect.fields import MappingError, add_note, expect, keep_unmapped, take

# STU3 MedicationStatement.taken -> what R4 can say about it.
_TAKEN_NOTES = {"y": None, "n": "Not taken", "unk": "Whether taken: unknown",
                "na": "Whether taken: not applicable"}
_DOSE_KEYS = ("doseRange", "doseQuantity", "doseSimpleQuantity")
_RATE_KEYS = ("rateRatio", "rateRange", "rateQuantity", "rateSimpleQuantity")


def map_dosages(resource: dict[str, Any], key: str) -> None:
    """STU3 Dosage ``dose[x]`` / ``rate[x]`` -> R4 ``doseAndRate[0]`` (everything else is unchanged)."""
    for path, dosage in each_object(resource, key):
        moved: dict[str, Any] = {}
        for name in _DOSE_KEYS + _RATE_KEYS:
            if name in dosage:
                r4_name = name.replace("SimpleQuantity", "Quantity")
                moved[r4_name] = expect(dosage.pop(name), dict, f"{path}.{name}")
        if moved:
            dosage["doseAndRate"] = [moved]


def map_medication_statement(resource: dict[str, Any]) -> dict[str, Any]:
    _fold_taken(resource)
    rename(resource, "reasonNotTaken", "statusReason")
    map_dosages(resource, "dosage")
    # context (Encounter | EpisodeOfCare) exists in R4 MedicationStatement as is.
    return resource


def _fold_taken(resource: dict[str, Any]) -> None:
    """R4 has no ``taken``: "n" becomes status not-taken (the STU3 status kept); others a note."""
    taken = take(resource, "taken", str)
    if taken is None:
        return
    if taken not in _TAKEN_NOTES:
        raise MappingError("taken", f"{taken!r} is not an STU3 taken code (expected one of y, n, unk, na)")
    if taken == "n" and resource.get("status") != "entered-in-error":
        if "status" in resource:
            keep_unmapped(resource, "status", resource["status"])
        resource["status"] = "not-taken"
    note = _TAKEN_NOTES[taken]
    if note and resource.get("status") != "not-taken":
        add_note(resource, note)
    if taken != "y":  # "y" is what an active/completed statement already says
        keep_unmapped(resource, "taken", taken)


def map_medication_request(resource: dict[str, Any]) -> dict[str, Any]:
    context_to_encounter(resource)
    requester_agent(resource)
    map_dosages(resource, "dosageInstruction")
    substitution = resource.get("substitution")
    if substitution is not None:
        rename(expect(substitution, dict, "substitution"), "allowed", "allowedBoolean")
    return resource


def map_medication(resource: dict[str, Any]) -> dict[str, Any]:
    for _path, ingredient in each_object(resource, "ingredient"):
        rename(ingredient, "amount", "strength")
    _package_batch(resource)
    return resource


def _package_batch(resource: dict[str, Any]) -> None:
    """STU3 ``package.batch[]`` -> R4 ``batch`` (one); the rest of the package is kept unmapped."""
    package = take(resource, "package", dict)
    if package is None:
        return
    batches = package.pop("batch", None)
    if isinstance(batches, list) and batches:
        resource["batch"] = expect(batches[0], dict, "package.batch[0]")
        if len(batches) > 1:
            keep_unmapped(resource, "package.batch[1:]", batches[1:])
    elif batches is not None:
        keep_unmapped(resource, "package.batch", batches)
    if package:
        keep_unmapped(resource, "package", package)
