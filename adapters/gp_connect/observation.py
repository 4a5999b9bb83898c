"""Results: Observation, DiagnosticReport and Specimen."""
from __future__ import annotations

from typing import Any

from adapters.gp_connect.common import context_to_encounter, each_object, rename
from adapters.gp_connect.fields import add_note, keep_unmapped, take

# STU3 Observation.related.type -> the R4 element that says the same; the other types
# (sequel-to, replaces, qualified-by, interfered-by) have no R4 element and are kept unmapped.
_RELATED = {"has-member": "hasMember", "derived-from": "derivedFrom"}


def map_observation(resource: dict[str, Any]) -> dict[str, Any]:
    context_to_encounter(resource)
    comment = take(resource, "comment", str)
    if comment is not None:  # R4 replaced the single comment with notes
        add_note(resource, comment)
    _related(resource)
    return resource


def _related(resource: dict[str, Any]) -> None:
    for path, related in each_object(resource, "related"):
        target = related.get("target")
        kind = related.get("type", "has-member")  # STU3's default type
        r4_key = _RELATED.get(kind) if isinstance(kind, str) else None
        if r4_key and isinstance(target, dict) and set(related) <= {"type", "target"}:
            resource.setdefault(r4_key, []).append(target)
        else:
            keep_unmapped(resource, path, related)
    resource.pop("related", None)


def map_diagnostic_report(resource: dict[str, Any]) -> dict[str, Any]:
    context_to_encounter(resource)
    rename(resource, "codedDiagnosis", "conclusionCode")
    rename(resource, "image", "media")
    performers = []
    for path, performer in each_object(resource, "performer"):
        actor = performer.pop("actor", None)
        if isinstance(actor, dict):
            performers.append(actor)
        if performer or not isinstance(actor, dict):
            # The role has no R4 element: kept together with the actor it qualifies.
            keep_unmapped(resource, path, {**performer, **({"actor": actor} if actor is not None else {})})
    resource.pop("performer", None)
    if performers:
        resource["performer"] = performers
    return resource


def map_specimen(resource: dict[str, Any]) -> dict[str, Any]:
    # Every STU3 Specimen element exists unchanged in R4.
    return resource
