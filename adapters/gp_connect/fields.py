"""Typed access to STU3 elements, and the one way to keep what R4 has no slot for.

Mappers read the elements they change through :func:`take` (and friends) so that an element of
the wrong JSON type becomes a :class:`MappingError` naming that element — the adapter turns it
into a ``Rejected`` with a precise location instead of crashing or guessing.
"""
from __future__ import annotations

from typing import Any, TypeVar

import orjson

from adapters.base import LocatedError
from adapters.conventions import EXT_UNMAPPED

T = TypeVar("T")

_JSON_NAMES: dict[type, str] = {str: "a string", bool: "a boolean", dict: "an object",
                                list: "an array", int: "an integer"}


class MappingError(LocatedError):
    """One element of one resource cannot be mapped; ``location`` is a path relative to the resource."""


def _json_name(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in _JSON_NAMES.items():
        if type(value) is kind:
            return name
    return "a number" if isinstance(value, (int, float)) else type(value).__name__


def expect(value: Any, kind: type[T], path: str) -> T:
    """``value`` itself, checked to be of JSON type ``kind`` (bool is not an int here)."""
    if type(value) is not kind:
        raise MappingError(path, f"expected {_JSON_NAMES[kind]}, got {_json_name(value)}")
    return value


def take(resource: dict[str, Any], key: str, kind: type[T], path: str | None = None) -> T | None:
    """Remove ``key`` from ``resource`` and return it checked, or None when absent."""
    if key not in resource:
        return None
    return expect(resource.pop(key), kind, path or key)


def objects(value: list[Any], path: str) -> list[dict[str, Any]]:
    """The items of an array that must hold objects (e.g. a list of CodeableConcepts)."""
    return [expect(item, dict, f"{path}[{i}]") for i, item in enumerate(value)]


def as_list(value: Any) -> list[Any]:
    """STU3 0..1 elements that became 0..* in R4 arrive as one value; R4 wants an array."""
    return value if isinstance(value, list) else [value]


def keep_unmapped(resource: dict[str, Any], stu3_path: str, value: Any) -> None:
    """Keep source content R4 has no element for, as an extension, rather than dropping it.

    The value is stored as canonical JSON text together with the STU3 path it came from, so a
    reader (or a later, better mapping) can recover it exactly.
    """
    text = orjson.dumps({"path": stu3_path, "value": value}, option=orjson.OPT_SORT_KEYS).decode()
    resource.setdefault("extension", [])
    if not isinstance(resource["extension"], list):
        # A broken extension element is itself kept, not overwritten.
        broken = resource.pop("extension")
        resource["extension"] = []
        keep_unmapped(resource, "extension", broken)
    resource["extension"].append({"url": EXT_UNMAPPED, "valueString": text})


def add_note(resource: dict[str, Any], text: str) -> None:
    """Append an Annotation to ``note`` (R4's home for narrative that lost its own element)."""
    notes = resource.get("note")
    if notes is None:
        resource["note"] = notes = []
    expect(notes, list, "note").append({"text": text})


def coded(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    """A CodeableConcept with one coding."""
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    concept: dict[str, Any] = {"coding": [coding]}
    if text:
        concept["text"] = text
    return concept
