"""Validate once, on ingest, with the fhir.resources R4B models (docs/architecture.md, invariant 1)."""
from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from adapters.base import Rejected
from gateway.ingest.work import Work


def problem(resource: dict[str, Any]) -> str | None:
    """None when the resource is valid R4; otherwise the first error, naming the field."""
    rtype = resource.get("resourceType")
    model = resource_model(str(rtype))
    if model is None:
        return f"resourceType: unknown R4 resource type {rtype!r}"
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(resource)"
        return f"{rtype}.{where}: {first['msg']}"
    except (ValueError, TypeError) as exc:
        return f"{rtype}: {exc}"
    return None


@cache
def resource_model(name: str) -> type[Resource] | None:
    """The R4B model of a resource type; None for an unknown name or a data type (HumanName is no resource).

    get_fhir_model_class raises ValueError (not KeyError) for unknown names, which used to escape
    as a crash instead of a quarantined record.
    """
    try:
        model = get_fhir_model_class(name)
    except (KeyError, ValueError):
        return None
    return model if isinstance(model, type) and issubclass(model, Resource) else None


def validate(work: Work) -> Work:
    kept = []
    for labelled in work.records:
        record = labelled.record
        if (reason := problem(record.resource)) is None:
            kept.append(labelled)
        else:
            work.rejected.append(Rejected(record.location or record.source_id, f"invalid R4: {reason}",
                                          orjson.dumps(record.resource)))
    work.records = kept
    return work
