"""Servers for the benchmarks: the gateway and a bare store-read route, each in processes of its own.

A uvicorn factory started as `gateway serve --workers N` would be, on a free 127.0.0.1 port (the process
handling is bench.served's, which the soak and the fault suite use too):

    with Server("bench.servers:full_app", directory, database_url, workers=2) as server:
        server.wait("/fhir/metadata")
        ...  # http://127.0.0.1:{server.port}

``factory`` names a function uvicorn calls in each worker (``module:function``, no arguments); the
data directory and database URL reach it through the environment (``settings()`` reads them back).
``full_app`` is the whole gateway; ``bare_app`` reads the same store with no auth, policy or audit
(a plain FHIR server's read and $everything: what the gateway's own work is measured against).
"""
from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from types import TracebackType

import orjson
from fastapi import FastAPI

from bench.served import Served, free_port
from gateway.logging import configure
from gateway.settings import Settings
from gateway.testing import settings_for

ENV_DIR, ENV_DB = "BENCH_SERVER_DIR", "BENCH_SERVER_DATABASE_URL"


def settings() -> Settings:
    """The served gateway's settings (in a worker: from the environment ``Server`` set); the benchmark
    initialised the deployment before starting the server."""
    return settings_for(Path(os.environ[ENV_DIR]), os.environ.get(ENV_DB) or None, audit_checkpoint_every=1000,
                        policy_poll_seconds=0)


def full_app() -> FastAPI:
    # Imported here: the bare server's workers should not pay for importing the whole gateway.
    from gateway.api.app import create_app
    from gateway.wiring import build_gateway

    configure("warning")  # a log line per request would be a cost the bare route does not pay
    app = create_app(build_gateway(settings(), run_migrations=False))
    gc.freeze()  # as `gateway serve` does (startup objects out of the collector's scans)
    return app


def bare_app() -> FastAPI:
    from gateway.api.responses import FhirJSONResponse
    from gateway.store import ResourceStore, make_engine

    configure("warning")
    store = ResourceStore(make_engine(settings().database_url))
    app = FastAPI()

    @app.get("/fhir/Patient/{patient_id}/$everything")  # before the read route, which would match it too
    def everything(patient_id: str) -> FhirJSONResponse:
        entries = [{"fullUrl": f"http://x/fhir/{s.ref}", "resource": orjson.Fragment(s.raw),
                    "search": {"mode": "match"}} for s in store.compartment(patient_id)]
        return FhirJSONResponse({"resourceType": "Bundle", "type": "searchset", "total": len(entries),
                                 "entry": entries})

    @app.get("/fhir/{resource_type}/{rid}")
    def read(resource_type: str, rid: str) -> FhirJSONResponse:
        stored = store.get(resource_type, rid)
        return FhirJSONResponse(orjson.Fragment(stored.raw) if stored is not None else {})

    gc.freeze()
    return app


def process_tree_cpu(root: int) -> float:
    """User + system CPU seconds of ``root`` and its descendants (Linux /proc; 0.0 elsewhere)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        pid = int(entry.parent.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14, 15 of stat)
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    return sum(times.get(pid, 0.0) for pid in tree)


class Server(Served):
    """``factory`` served by uvicorn with ``workers`` processes on a free port; ``close`` stops it."""

    def __init__(self, factory: str, directory: Path, database_url: str | None = None, *, workers: int = 1,
                 env: dict[str, str] | None = None) -> None:
        port = free_port()
        environment = {**os.environ, ENV_DIR: str(directory), ENV_DB: database_url or "", **(env or {})}
        super().__init__([sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port",
                          str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
                         environment, port, quiet=False)
        self.url = self.base_url

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server's processes have used so far: on a machine shared with
        other work, CPU per request measures the server's own cost where requests per second cannot."""
        return process_tree_cpu(self.process.pid)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
