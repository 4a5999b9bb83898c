"""`_summary` and `_elements`: the subset of each resource a search asked for (FHIR R4 search 3.1.1.5).

Which elements are summary elements and which are mandatory comes from the R4 element definitions
(as the fhir.resources R4B models carry them: ``summary_element_property``, required fields); a
subsetted resource keeps ``resourceType``, ``id``, ``meta`` and its mandatory elements, so it stays
valid, and is tagged SUBSETTED.
"""
from __future__ import annotations

from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
_ALWAYS = frozenset({"resourceType", "id", "meta"})


@cache
def _elements_of(resource_type: str) -> tuple[frozenset[str], frozenset[str]]:
    """(summary elements, mandatory elements) of a type, by their JSON names."""
    summary, mandatory = set(), set()
    for field in get_fhir_model_class(resource_type).model_fields.values():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        name = field.alias or ""
        if extra.get("summary_element_property"):
            summary.add(name)
        if field.is_required() or extra.get("element_required") or extra.get("one_of_many_required"):
            mandatory.add(name)
    return frozenset(summary), frozenset(mandatory)


def mandatory(resource_type: str) -> frozenset[str]:
    return _elements_of(resource_type)[1]


def _keep(resource: dict[str, Any], names: set[str]) -> dict[str, Any]:
    # A primitive's extensions travel with it (`_birthDate` with `birthDate`).
    out = {k: v for k, v in resource.items() if k in names or (k.startswith("_") and k[1:] in names)}
    meta = dict(out.get("meta") or {})
    if SUBSETTED not in meta.get("tag", []):
        meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    out["meta"] = meta
    return out


def elements(resource: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    """``_elements``: the named top-level elements, plus what every resource must keep."""
    return _keep(resource, {*_ALWAYS, *mandatory(resource["resourceType"]), *wanted})


def summary(resource: dict[str, Any], mode: str) -> dict[str, Any]:
    """``_summary`` = true (summary elements), text (text and mandatory elements) or data (all but text)."""
    rtype = resource["resourceType"]
    if mode == "data":
        if "text" not in resource:
            return resource
        return _keep(resource, set(resource) - {"text"})
    summary_elements, required = _elements_of(rtype)
    if mode == "text":
        return _keep(resource, {*_ALWAYS, *required, "text"})
    return _keep(resource, {*_ALWAYS, *required, *summary_elements})
