"""FHIR response bodies and format negotiation.

JSON is rendered straight from the stored dicts with orjson (no pydantic on the read path). XML is
written by the fhir.resources R4B models, which costs a model build per response: the price of a
format few callers ask for.
"""
from __future__ import annotations

from typing import Any, Literal, cast

import orjson
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.errors import NotAcceptable
from gateway.fhir_json import materialised

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
Format = Literal["json", "xml"]
_PREFERRED: tuple[Format, ...] = ("json", "xml")  # what a wildcard media range picks, in order
_FORMAT_PARAM: dict[str, Format] = {
    "json": "json", "application/json": "json", FHIR_JSON: "json", "application/json+fhir": "json",
    "xml": "xml", "application/xml": "xml", FHIR_XML: "xml", "text/xml": "xml", "application/xml+fhir": "xml",
}


class FhirJSONResponse(Response):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class FhirXMLResponse(Response):
    media_type = FHIR_XML

    def render(self, content: Any) -> bytes:
        content = materialised(content)
        xml = get_fhir_model_class(content["resourceType"]).model_validate(content).model_dump_xml()
        return cast(bytes, xml)  # annotated str, but it is lxml's encoded output (bytes)


def negotiated_format(request: Request) -> Format | None:
    """The format the caller asked for (``_format`` beats ``Accept``); None when we cannot serve it."""
    requested = request.query_params.get("_format")
    if requested:
        return _FORMAT_PARAM.get(requested.split(";")[0].strip().lower())
    accept = request.headers.get("accept", "")
    if not accept.strip():
        return "json"
    return _from_accept(accept)


def _from_accept(accept: str) -> Format | None:
    """The best format by quality value (RFC 9110 12.5.1): highest q first, then the more specific media
    range, then the order given; q=0 means "not this one", also for a wildcard that would pick it."""
    ranked: list[tuple[float, int, int, str]] = []
    for order, part in enumerate(accept.split(",")):
        media, *options = (p.strip() for p in part.split(";"))
        media = media.lower()
        q = 1.0
        for option in options:
            key, _, value = option.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        specific = 0 if media == "*/*" else 1 if media.endswith("/*") else 2
        ranked.append((q, specific, order, media))
    refused = {_FORMAT_PARAM[m] for q, _, _, m in ranked if q <= 0 and m in _FORMAT_PARAM}
    for q, _, _, media in sorted(ranked, key=lambda r: (-r[0], -r[1], r[2])):
        if q <= 0:
            break
        if media in _FORMAT_PARAM and _FORMAT_PARAM[media] not in refused:
            return _FORMAT_PARAM[media]
        if media in ("*/*", "application/*", "text/*"):
            choice = next((f for f in _PREFERRED if f not in refused), None)
            if choice is not None:
                return choice
    return None


def fhir_response(request: Request, body: dict[str, Any] | orjson.Fragment, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    if status == 304:
        return Response(status_code=304, headers=headers)
    fmt = getattr(request.state, "fhir_format", None) or negotiated_format(request) or "json"
    if fmt == "xml":
        try:
            return FhirXMLResponse(body, status_code=status, headers=headers)
        except (ValidationError, KeyError, TypeError) as exc:
            # e.g. `_elements` left out an element XML's model requires: a 4xx, never a 500.
            request.state.fhir_format = "json"
            raise NotAcceptable("this answer cannot be written as application/fhir+xml (with _elements the "
                                f"subset is not a complete resource: {type(exc).__name__}); ask for "
                                "application/fhir+json") from None
    return FhirJSONResponse(body, status_code=status, headers=headers)
