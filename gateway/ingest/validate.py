"""Validate once, on ingest, with the fhir.resources R4B models (DESIGN invariant 1)."""
from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from adapters.base import Rejected
from gateway.ingest.work import Work

import orjson


def problem(resource: dict[str, Any]) -> str | None:
    """None when the resource is valid R4; otherwise the first error, naming the field."""
    rtype = resource.get("resourceType")
    try:
        model = get_fhir_model_class(str(rtype))
    except KeyError:
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
