"""Fault suite: SIGKILL a served gateway under concurrent load, restart it on the same database.

Audit before release (DESIGN invariant 3) means that every request the caller got an answer to is in
the audit log — whatever moment the process died at — and the chain still verifies after the
restart (`gateway audit verify` exits 0). Runs on SQLite, and on PostgreSQL when
GATEWAY_TEST_POSTGRES_URL is set; also a long URL against the real HTTP server (uvicorn's own
limits must not turn it into a plain-text answer)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.people import invent_people
from gateway.services import build_gateway
from gateway.testing import auth_headers

NHS = "https://fhir.nhs.uk/Id/nhs-number"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {**os.environ, "GATEWAY_DATABASE_URL": settings.database_url, "GATEWAY_AUDIT_KEY": settings.audit_key,
            "GATEWAY_JWKS": settings.jwks, "GATEWAY_SIGNING_JWKS": settings.signing_jwks,
            "GATEWAY_LOG_LEVEL": "warning", "GATEWAY_AUDIT_CHECKPOINT_EVERY": "16"}


def _serve(settings, port: int, cwd: Path) -> subprocess.Popen:  # type: ignore[no-untyped-def,type-arg]
    process = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
                               env=_env(settings), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the gateway did not start")


def _raw_get(port: int, target: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
    request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), fields.get("content-type", ""), body


@pytest.fixture
def loaded_settings(settings):  # type: ignore[no-untyped-def]
    gw = build_gateway(settings)
    people = [p for p in invent_people(6, seed=11)]
    for person in people:
        summary = gw.ingestor.ingest_bytes("gp-connect", orjson.dumps(gp_connect_bundle(person)),
                                           f"{person.index}.json")
        assert summary.quarantined == 0
    ids = [gw.store.find_by_identifier("Patient", NHS, p.nhs_number)[0].id for p in people]
    gw.close()
    return settings, people, ids


def test_sigkill_under_load_loses_no_audit_record(loaded_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, people, ids = loaded_settings
    port = _free_port()
    server = _serve(settings, port, tmp_path)
    answered: list[tuple[str, int, str | None]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(worker: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            n = 0
            while not stop.is_set():
                person, pid = people[n % len(people)], ids[n % len(ids)]
                headers = {**auth_headers(settings, "gp", person.practice_ods), "X-Request-ID": f"w{worker}-{n}"}
                url = (f"/fhir/Patient/{pid}/$everything" if n % 3 == 0 else
                       f"/fhir/Condition?patient={pid}" if n % 3 == 1 else f"/fhir/Patient?identifier={NHS}|"
                       f"{person.nhs_number}")
                n += 1
                try:
                    response = client.get(url, headers=headers)
                except httpx.HTTPError:
                    continue  # the server died under this request: no answer, nothing to check
                with lock:
                    answered.append((headers["X-Request-ID"], response.status_code,
                                     response.headers.get("x-audit-sequence")))

    workers = [threading.Thread(target=load, args=(i,)) for i in range(6)]
    for w in workers:
        w.start()
    time.sleep(2.0)
    os.kill(server.pid, signal.SIGKILL)  # mid-load: some requests are in flight
    server.wait(timeout=10)
    stop.set()
    for w in workers:
        w.join(timeout=30)
    ok = [a for a in answered if a[1] == 200]
    assert len(ok) > 20, f"too little load to mean anything: {len(answered)} answers"
    assert all(seq for _, _, seq in ok), "every answer names its audit record"

    # Restart on the same database: it serves again, and the log is intact.
    restarted = _serve(settings, port, tmp_path)
    try:
        again = httpx.get(f"http://127.0.0.1:{port}/fhir/Patient/{ids[0]}",
                          headers=auth_headers(settings, "gp", people[0].practice_ods), timeout=10)
        assert again.status_code == 200
    finally:
        restarted.terminate()
        restarted.wait(timeout=10)
    verify = subprocess.run([sys.executable, "-m", "gateway.cli", "audit", "verify"], env=_env(settings),
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    gw = build_gateway(settings)
    try:
        audited = {e.record.get("request_id"): e.seq for e in gw.audit.iter_entries()}
    finally:
        gw.close()
    missing = [rid for rid, _, _ in answered if rid not in audited]
    assert not missing, f"{len(missing)} answered requests have no audit record: {missing[:5]}"
    assert all(str(audited[rid]) == seq for rid, status, seq in ok), "the header names the request's own record"


def test_a_long_url_gets_an_operation_outcome_from_the_real_server(loaded_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, people, _ = loaded_settings
    port = _free_port()
    server = _serve(settings, port, tmp_path)
    try:
        headers = auth_headers(settings, "gp", people[0].practice_ods)
        for size in (10_000, 60_000, 70_000, 200_000):  # httpx refuses to send more than 64 KB: a raw socket
            status, content_type, body = _raw_get(port, "/fhir/Patient?name=" + "a" * size, headers)
            assert status == 414, (size, status, body[:200])
            assert content_type == "application/fhir+json" and orjson.loads(body)["resourceType"] == "OperationOutcome"
    finally:
        server.terminate()
        server.wait(timeout=10)
