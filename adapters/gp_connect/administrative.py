"""Who and where: Patient, Organization, Practitioner, PractitionerRole, Location, and the List.

These barely changed from STU3 to R4: the generic steps (ids, references, code systems,
extension URLs, R4 cardinalities, elements R4 lacks such as ``Patient.animal``) do all the work.
A List with no entries — "No known allergies" — is kept as it is: its emptyReason and note are
information, not absence (see :mod:`adapters.gp_connect.lists` for its id and warnings).
"""
from __future__ import annotations

from typing import Any


def map_unchanged(resource: dict[str, Any]) -> dict[str, Any]:
    return resource
