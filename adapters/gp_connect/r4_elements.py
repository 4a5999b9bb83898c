"""The element names R4 (R4B) allows at the top of each resource type, read from fhir.resources.

Used to keep (as unmapped content) any top-level element a sender put in that R4 does not have,
instead of passing on a resource the ingest validation would refuse. Reading the model's field
aliases is introspection, not validation: it costs nothing per resource.
"""
from __future__ import annotations

from functools import cache

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource


@cache
def r4_elements(resource_type: str) -> frozenset[str] | None:
    """JSON element names of an R4 resource type (with ``_x`` primitive extensions), or None if R4
    has no such type."""
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        return None
    if not issubclass(model, Resource):  # e.g. a data type name (Quantity), not a resource
        return None
    names = {field.alias or name for name, field in model.model_fields.items()}
    return frozenset(names | {"resourceType"})
