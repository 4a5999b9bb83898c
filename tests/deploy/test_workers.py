"""`gateway serve --workers N`: N processes answer on one port, share the database (one audit
chain) and start from the policy the parent published."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from gateway.testing import auth_headers, initialised_settings


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_with_two_workers(tmp_path: Path) -> None:
    settings = initialised_settings(tmp_path)
    env = {**os.environ, "GATEWAY_DATABASE_URL": settings.database_url, "GATEWAY_JWKS": settings.jwks,
           "GATEWAY_SIGNING_JWKS": settings.signing_jwks, "GATEWAY_AUDIT_KEY": settings.audit_key,
           "GATEWAY_POLICY_CACHE_DIR": str(tmp_path / "cache"), "GATEWAY_LOG_LEVEL": "warning"}
    port = _port()
    gateway_bin = str(Path(sys.executable).parent / "gateway")
    server = subprocess.Popen([gateway_bin, "serve", "--port", str(port), "--workers", "2"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        pids: set[int] = set()
        deadline = time.monotonic() + 90
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            while len(pids) < 2:
                assert time.monotonic() < deadline, f"saw workers {pids}"
                assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
                try:  # a new connection each time: a worker keeps every request of a connection it accepted
                    pids.add(httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()["pid"])
                except httpx.TransportError:
                    time.sleep(0.2)
            assert server.pid not in pids  # the parent supervises; the workers serve
            ready = {httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).json()["policy"] for _ in range(6)}
            assert len(ready) == 1  # every worker serves the version the parent published
            headers = auth_headers(settings, "auditor", "X26")
            statuses = [http.get("/audit/verify", headers=headers).status_code for _ in range(6)]
            assert statuses == [200] * 6
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    verify = subprocess.run([gateway_bin, "audit", "verify"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr  # the workers' appends form one chain
