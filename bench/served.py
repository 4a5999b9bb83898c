"""A gateway (or any ASGI app) served as its own process on 127.0.0.1: the one start-up the benchmarks,
the soak and the fault suite share — a free port, the process, waiting until it answers, its memory.

``ServedGateway`` runs the real ``gateway serve`` with settings passed as ``GATEWAY_*`` variables, as
an operator would start it; ``Served`` runs any argv and waits for a path to answer 200.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from gateway.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gateway_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that makes ``gateway`` commands use ``settings`` (database, keys, policy cache)."""
    return {**os.environ, "GATEWAY_DATABASE_URL": settings.database_url, "GATEWAY_AUDIT_KEY": settings.audit_key,
            "GATEWAY_JWKS": settings.jwks, "GATEWAY_SIGNING_JWKS": settings.signing_jwks,
            "GATEWAY_POLICY_CACHE_DIR": settings.policy_cache_dir, "GATEWAY_LOG_LEVEL": "warning", **extra}


def rss_kib(pid: int) -> tuple[int, int]:
    """(resident set now, its peak since the process started) in KiB, from /proc (Linux)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


class Served:
    """``argv`` as a process listening on ``port``; :meth:`wait` until ``path`` answers 200."""

    def __init__(self, argv: list[str], env: Mapping[str, str], port: int, cwd: Path | None = None,
                 quiet: bool = True) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        output = subprocess.DEVNULL if quiet else None
        self.process = subprocess.Popen(argv, env=dict(env), cwd=cwd, stdout=output, stderr=output)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait(self, path: str = "/healthz", headers: Mapping[str, str] | None = None, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.base_url + path, headers=dict(headers or {}), timeout=30).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the server on port {self.port} did not start")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (a crash, an OOM kill, a pulled plug)."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


class ServedGateway(Served):
    """``gateway serve`` (one process) on ``settings``; started and ready on return."""

    def __init__(self, settings: Settings, cwd: Path, port: int | None = None, quiet: bool = True,
                 **env: str) -> None:
        port = port or free_port()
        super().__init__([sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                         gateway_env(settings, **env), port, cwd=cwd, quiet=quiet)
        self.settings = settings
        self.wait("/healthz")
