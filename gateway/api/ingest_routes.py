"""POST /ingest/{format}: source systems push exports through the same pipeline as the CLI."""
from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.errors import BadRequest, PayloadTooLarge, operation_outcome
from gateway.api.responses import FhirJSONResponse
from gateway.api.roles import require_capability
from gateway.metrics import count_ingest

router = APIRouter()


@router.post("/ingest/{format}")
async def ingest(format: str, request: Request) -> Response:
    requester = require_capability(request, "ingests")
    gw = request.app.state.gateway
    if format not in gw.ingestor.adapters:
        raise BadRequest(f"unknown format {format!r}; known: {', '.join(sorted(gw.ingestor.adapters))}",
                         code="not-supported")
    limit = gw.settings.max_body_bytes
    body = bytearray()
    async for chunk in request.stream():  # bounded: never hold more than the limit in memory
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(f"body exceeds {limit} bytes; split the export")
    origin = f"http:{requester.org}:{request.state.request_id}"
    summary = await run_in_threadpool(lambda: gw.ingestor.ingest_bytes(format, bytes(body), origin,
                                                                       sender=requester.org))
    count_ingest(format, summary)
    if summary.messages == 0 and summary.quarantined:
        # Nothing could be taken (unparseable, or not the sender's to send): say why; the bytes are in quarantine.
        return FhirJSONResponse(operation_outcome([("error", "structure", f"{p.location}: {p.reason}")
                                                   for p in summary.problems]), status_code=422)
    return FhirJSONResponse(summary.as_dict(), media_type="application/json")
