"""Request context as a plain ASGI middleware: a request id for every log line and response, and a
body-size bound checked before anything reads the body. (Plain ASGI rather than Starlette's
BaseHTTPMiddleware, which pipes every response body through an extra stream.)"""
from __future__ import annotations

import time
import uuid

import orjson
import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.errors import operation_outcome
from gateway.logging import get_logger
from gateway.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = get_logger("gateway.api")


class RequestContext:
    def __init__(self, app: ASGIApp, max_body_bytes: int, tracing: bool = False) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.tracer = None
        if tracing:
            try:
                from opentelemetry import trace

                self.tracer = trace.get_tracer("gateway")
            except ImportError:  # optional: tracing asked for but the API is not installed
                log.warning("tracing.unavailable", reason="opentelemetry-api is not installed")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        length = headers.get("content-length", "")
        if length.isascii() and length.isdigit() and int(length) > self.max_body_bytes:
            await self._too_large(send, request_id)
            return
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        started = time.perf_counter()
        try:
            if self.tracer is not None:
                with self.tracer.start_as_current_span(f"{scope['method']} {scope['path']}") as span:
                    span.set_attribute("gateway.request_id", request_id)
                    await self.app(scope, receive, send_with_id)
                    span.set_attribute("http.status_code", status)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            # The route template, never the raw path: ids would make one series per record.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            HTTP_REQUESTS.inc(scope["method"], route, str(status))
            HTTP_LATENCY.observe(time.perf_counter() - started, scope["method"], route)
        log.info("http.request", method=scope["method"], path=scope["path"], status=status)

    @staticmethod
    async def _too_large(send: Send, request_id: str) -> None:
        body = orjson.dumps(operation_outcome([("error", "too-costly", "request body too large")]))
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/fhir+json"), (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode())]})
        await send({"type": "http.response.body", "body": body})
