"""A small FHIR terminology server on loopback, for `gateway policy expand` (no internet here).

It stands in for the external server (Snowstorm, Ontoserver ...), not for the code under test: a
real HTTP server answering ``GET [base]/ValueSet/$expand?url=http://snomed.info/sct?fhir_vs=ecl/<ECL>``
with ``offset`` / ``count`` paging, from a fixture of a few SNOMED CT concepts and their is-a
relationships. It understands the ECL the tests use: a concept, ``<`` and ``<<`` of one, with or
without terms, joined by ``OR`` (brackets ignored).
"""
from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

SNOMED = "http://snomed.info/sct"
VERSION = "http://snomed.info/sct|http://snomed.info/sct/83821000000107/version/20260101"  # a test fixture's label

# id -> (preferred term, parents)
CONCEPTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "74732009": ("Mental disorder", ()),
    "197480006": ("Anxiety disorder", ("74732009",)),
    "35489007": ("Depressive disorder", ("74732009",)),
    "231504006": ("Mixed anxiety and depressive disorder", ("197480006", "35489007")),
    "370143000": ("Major depressive disorder", ("35489007",)),
    "69322001": ("Psychotic disorder", ("74732009",)),
    "58214004": ("Schizophrenia", ("69322001",)),
    "13746004": ("Bipolar disorder", ("74732009",)),
    "86406008": ("Human immunodeficiency virus infection", ()),
    "62479008": ("Acquired immune deficiency syndrome", ("86406008",)),
    "105629000": ("Chlamydial infection", ()),
    "240589008": ("Chlamydia trachomatis infection", ("105629000",)),
    "38341003": ("Hypertensive disorder", ()),
}


def descendants(concept: str) -> set[str]:
    found: set[str] = set()
    frontier = [concept]
    while frontier:
        parent = frontier.pop()
        for code, (_, parents) in CONCEPTS.items():
            if parent in parents and code not in found:
                found.add(code)
                frontier.append(code)
    return found


def evaluate(ecl: str) -> list[str]:
    out: set[str] = set()
    for part in re.split(r"\s+OR\s+", re.sub(r"\|[^|]*\||[()]", "", ecl).strip()):
        hit = re.fullmatch(r"\s*(<<|<)?\s*(\d+)\s*", part)
        if hit is None or hit.group(2) not in CONCEPTS:
            raise ValueError(f"cannot evaluate {part!r}")
        op, concept = hit.groups()
        out |= descendants(concept) | ({concept} if op != "<" else set())
    return sorted(out, key=int)


@dataclass
class Server:
    base: str
    requests: list[dict[str, list[str]]] = field(default_factory=list)
    fail_with: int | None = None  # answer every request with this HTTP status and an OperationOutcome


def _handler(state: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _outcome(self, status: int, text: str) -> None:
            self._send(status, {"resourceType": "OperationOutcome",
                                "issue": [{"severity": "error", "code": "invalid", "diagnostics": text}]})

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            state.requests.append(query)
            if parts.path != "/fhir/ValueSet/$expand":
                return self._outcome(404, f"unknown path {parts.path}")
            if state.fail_with is not None:
                return self._outcome(state.fail_with, "ECL syntax error at position 3")
            url = query.get("url", [""])[0]
            if not url.startswith(SNOMED + "?fhir_vs=ecl/"):
                return self._outcome(400, f"not an implicit SNOMED CT ECL value set: {url}")
            try:
                codes = evaluate(url.split("?fhir_vs=ecl/", 1)[1])
            except ValueError as exc:
                return self._outcome(400, str(exc))
            offset, count = int(query.get("offset", ["0"])[0]), int(query.get("count", ["1000"])[0])
            page = codes[offset:offset + count]
            self._send(200, {"resourceType": "ValueSet", "url": url, "status": "active", "expansion": {
                "identifier": "urn:uuid:3b7a6c1e-0000-4000-8000-000000000001", "timestamp": "2026-11-30T06:00:00Z",
                "total": len(codes), "offset": offset,
                "parameter": [{"name": "used-codesystem", "valueUri": VERSION},
                              {"name": "count", "valueInteger": count}],
                "contains": [{"system": SNOMED, "code": c, "display": CONCEPTS[c][0]} for c in page]}})

    return Handler


@contextmanager
def terminology_server() -> Iterator[Server]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state := Server("")))
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}/fhir"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
