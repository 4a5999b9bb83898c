"""Request context as a plain ASGI middleware: a request id for every log line and response, and a
body-size bound checked before anything reads the body. (Plain ASGI rather than Starlette's
BaseHTTPMiddleware, which pipes every response body through an extra stream.)"""
from __future__ import annotations

import re
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
# A client's X-Request-ID is used (in logs, audit records, quarantine origins) only when it is a
# short token of safe characters; anything else is replaced by our own id (docs/security.md).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAX_URL_BYTES = 8 * 1024  # path + query: beyond this, 414 (an OperationOutcome), before any work


_TOO_LARGE = (413, "too-costly", "request body too large")


def request_id_from(value: str | None) -> str:
    return value if value and _REQUEST_ID.fullmatch(value) else uuid.uuid4().hex


def _bind_request_id(scope: Scope, headers: Headers) -> str:
    """The request's id (the client's when it is a safe token), in the scope and on every log line."""
    client_id = headers.get("x-request-id")
    request_id = request_id_from(client_id)
    scope.setdefault("state", {})["request_id"] = request_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    if client_id and client_id != request_id:
        log.info("http.request_id_replaced", client_value=repr(client_id[:128]))
    return request_id


def _is_search_form(scope: Scope, headers: Headers) -> bool:
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return (scope["method"] == "POST" and scope["path"].startswith("/fhir/")
            and content_type == "application/x-www-form-urlencoded")


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that hands on the form already read, then the connection's own (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # after the body: disconnects
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class RequestContext:
    def __init__(self, app: ASGIApp, max_body_bytes: int, tracing: bool = False) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.tracer = None
        if tracing:
            try:  # an optional dependency: imported only when tracing is asked for
                from opentelemetry import trace  # optional dependency (see above)

                self.tracer = trace.get_tracer("gateway")
            except ImportError:  # optional: tracing asked for but the API is not installed
                log.warning("tracing.unavailable", reason="opentelemetry-api is not installed")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = _bind_request_id(scope, headers)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await self._refuse(send, request_id, *refusal)
            return
        if _is_search_form(scope, headers):
            form = await self._read_form(receive)
            if isinstance(form, tuple):
                await self._refuse(send, request_id, *form)
                return
            receive = _replaying(form, receive)
        await self._serve(scope, receive, send, request_id)

    def _refusal(self, scope: Scope, headers: Headers) -> tuple[int, str, str] | None:
        """(status, issue code, text) when the URL or the declared body size is refused before any work."""
        if len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string") or b"") > MAX_URL_BYTES:
            return 414, "too-costly", f"URL longer than {MAX_URL_BYTES} bytes"
        if "\x00" in scope["path"] or b"%00" in (scope.get("query_string") or b"").lower():
            # No FHIR id, parameter or value contains NUL, and PostgreSQL text cannot hold one.
            return 400, "invalid", "NUL characters are not allowed in the URL"
        length = headers.get("content-length", "")
        if length.isascii() and length.isdigit() and int(length) > self.max_body_bytes:
            return _TOO_LARGE
        return None

    async def _read_form(self, receive: Receive) -> bytes | tuple[int, str, str]:
        """A search form's bytes (they are small), or the refusal: too large, or a NUL as in URLs."""
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                return _TOO_LARGE
        if b"\x00" in body or b"%00" in body:
            return 400, "invalid", "NUL characters are not allowed in a form"
        return body

    async def _serve(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        """Run the app with the request id on the response, timed and counted by route."""
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
    async def _refuse(send: Send, request_id: str, status: int, code: str, text: str) -> None:
        body = orjson.dumps(operation_outcome([("error", code, text)]))
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/fhir+json"), (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode())]})
        await send({"type": "http.response.body", "body": body})
