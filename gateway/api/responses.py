"""FHIR response bodies: orjson for JSON (no pydantic on the read path)."""
from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"


class FhirJSONResponse(Response):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
