"""STU3 -> R4 moves that several resource types share.

Each helper edits one resource in place and says in its name what moves where. They read the
elements they move through :mod:`adapters.gp_connect.fields`, so a wrong JSON type becomes a
``MappingError`` naming the element.
"""
from __future__ import annotations

from typing import Any

from adapters.gp_connect.fields import MappingError, as_list, expect, keep_unmapped, objects, take

DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"


def reference_type(reference: dict[str, Any]) -> str | None:
    """The resource type a reference names. References are rewritten to ``Type/id`` before the
    mappers run, so every in-Bundle reference says its type; others may not (``urn:uuid:…``)."""
    ref = reference.get("reference")
    if not isinstance(ref, str) or "/" not in ref or "://" in ref:
        return None
    head = ref.split("/", 1)[0]
    return head if head[:1].isupper() else None


def rename(resource: dict[str, Any], old: str, new: str) -> None:
    """An element R4 merely renamed (``assertedDate`` -> ``recordedDate``)."""
    if old in resource:
        resource[new] = resource.pop(old)


def code_to_concept(resource: dict[str, Any], key: str, system: str, allowed: dict[str, str],
                    path: str) -> str | None:
    """A ``code`` that R4 made a CodeableConcept; ``allowed`` maps STU3 code -> R4 code.

    Returns the STU3 code (callers use it, e.g. for the entered-in-error rules). An STU3 code
    R4 lacks is mapped to its nearest R4 code and the original kept as text, so nothing is lost.
    """
    code = take(resource, key, str, path)
    if code is None:
        return None
    if code not in allowed:
        raise MappingError(path, f"{code!r} is not a code here (expected one of {', '.join(sorted(allowed))})")
    r4_code = allowed[code]
    concept: dict[str, Any] = {"coding": [{"system": system, "code": r4_code}]}
    if r4_code != code:
        concept["text"] = code
        keep_unmapped(resource, path, code)
    resource[key] = concept
    return code


def context_to_encounter(resource: dict[str, Any], target: str = "encounter", path: str = "context") -> None:
    """STU3 ``context`` (Encounter | EpisodeOfCare) -> R4 ``encounter`` (Encounter only)."""
    context = take(resource, "context", dict, path)
    if context is None:
        return
    if reference_type(context) in ("Encounter", None):
        resource[target] = context
    else:  # an EpisodeOfCare has no R4 slot here: kept, not dropped
        keep_unmapped(resource, path, context)


def requester_agent(resource: dict[str, Any]) -> None:
    """STU3 ``requester {agent, onBehalfOf}`` -> R4 ``requester`` (the agent).

    R4 has no onBehalfOf on requests; GP Connect uses it for the requesting practice, which is
    kept as unmapped content.
    """
    requester = take(resource, "requester", dict)
    if requester is None:
        return
    agent = requester.pop("agent", None)
    if agent is not None:
        resource["requester"] = expect(agent, dict, "requester.agent")
    if requester:
        keep_unmapped(resource, "requester", requester)


def move_unmapped(resource: dict[str, Any], key: str, path: str | None = None) -> None:
    """An STU3 element R4 dropped: kept as unmapped content."""
    if key in resource:
        keep_unmapped(resource, path or key, resource.pop(key))


def each_object(resource: dict[str, Any], key: str) -> list[tuple[str, dict[str, Any]]]:
    """(path, object) for each item of an array of objects (a single object is accepted too)."""
    if key not in resource:
        return []
    resource[key] = items = as_list(resource[key])
    return [(f"{key}[{i}]", item) for i, item in enumerate(objects(items, key))]


__all__ = ["DATA_ABSENT_REASON", "MappingError", "reference_type", "code_to_concept", "context_to_encounter",
           "each_object", "move_unmapped", "rename", "requester_agent"]
