"""Who and where: Patient, Organization, Practitioner, PractitionerRole, and the clinical-area List.

These barely changed from STU3 to R4; the generic steps (ids, references, code systems,
extension URLs, unknown elements) do the work. A List with no entries — "No known allergies" —
is kept as it is: its emptyReason and note are information, not absence.
"""
from __future__ import annotations

from typing import Any

from adapters.gp_connect.common import move_unmapped


def map_patient(resource: dict[str, Any]) -> dict[str, Any]:
    move_unmapped(resource, "animal")  # R4 Patient is only human
    return resource


def map_unchanged(resource: dict[str, Any]) -> dict[str, Any]:
    return resource
