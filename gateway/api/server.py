"""The HTTP server's own refusals as OperationOutcomes.

uvicorn answers a request it cannot parse (a URL or header beyond llhttp's limits, about 64 KB;
a malformed request line) itself, in plain text, before the application sees it. ``gateway serve``
uses this protocol so that those answers are FHIR OperationOutcomes too: 414 when the URL is what
was too long, else 400. (Shorter URLs over MAX_URL_BYTES are refused by the application's
middleware with the same 414.)"""
from __future__ import annotations

from typing import Any

import orjson

from gateway.api.errors import operation_outcome
from gateway.api.middleware import MAX_URL_BYTES

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - uvicorn without httptools: its default protocol
    HttpToolsProtocol = None  # type: ignore[assignment,misc]  # a class or None: test it before use

_REASONS = {400: b"Bad Request", 414: b"URI Too Long"}


def _answer(status: int, text: str) -> bytes:
    body = orjson.dumps(operation_outcome([("error", "too-costly" if status == 414 else "invalid", text)]))
    return b"".join([b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]), b"content-type: application/fhir+json\r\n",
                     b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n", body])


if HttpToolsProtocol is not None:
    class OutcomeHttpToolsProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            too_long = len(getattr(self, "url", b"") or b"") > MAX_URL_BYTES
            status = 414 if too_long else 400
            text = (f"URL longer than {MAX_URL_BYTES} bytes" if too_long else
                    f"{msg} (a malformed request line or header, or one beyond the server's limits)")
            self.transport.write(_answer(status, text))
            self.transport.close()


def http_protocol() -> Any:
    """The ``http=`` argument for uvicorn.run: our protocol when httptools is installed, else uvicorn's."""
    return OutcomeHttpToolsProtocol if HttpToolsProtocol is not None else "auto"
