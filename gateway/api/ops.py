"""Operations endpoints: ``/healthz`` (liveness), ``/readyz`` (database reachable, policy loaded,
audit log writable-looking), ``/metrics`` (Prometheus text format). No authentication and not
audited: they carry no record content. Keep ``/metrics`` off the public side of the proxy (the
shipped nginx configuration and Kubernetes probes reach the processes directly)."""
from __future__ import annotations

import os
import time

import sqlalchemy as sa
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from gateway.ingest.quarantine import Q
from gateway.metrics import REGISTRY
from gateway.wiring import Gateway

router = APIRouter()
STARTED = time.time()


@router.get("/healthz", include_in_schema=False)
async def healthz() -> Response:
    """Alive: the event loop answers (no database call — a slow database must not get us killed)."""
    return JSONResponse({"status": "ok", "pid": os.getpid(), "uptime_seconds": round(time.time() - STARTED, 1)})


def _ready(request: Request) -> tuple[bool, dict[str, object]]:
    gw = request.app.state.gateway
    checks: dict[str, object] = {}
    try:
        with gw.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            conn.execute(sa.text("SELECT seq FROM audit_record ORDER BY seq DESC LIMIT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    engine = gw.policies.engine
    checks["policy"] = engine.version if engine is not None else "not loaded"
    checks["audit_signing_key"] = "ok" if gw.audit.signing_key is not None else "missing"
    ok = checks["database"] == "ok" and engine is not None and gw.audit.signing_key is not None
    return ok, checks


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> Response:
    ok, checks = await run_in_threadpool(_ready, request)
    return JSONResponse({"status": "ready" if ok else "not ready", "pid": os.getpid(), **checks},
                        status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return PlainTextResponse(await run_in_threadpool(REGISTRY.render),
                             media_type="text/plain; version=0.0.4; charset=utf-8")


def register_gauges(gateway: Gateway) -> None:
    """Scrape-time gauges that read the database (bounded: one count each)."""
    engine = gateway.engine
    policies = gateway.policies

    def open_quarantine() -> float:
        with engine.connect() as conn:
            return float(conn.execute(sa.select(sa.func.count()).select_from(Q).where(Q.c.status == "open"))
                         .scalar_one())

    REGISTRY.gauge("gateway_quarantine_open", "quarantined inputs awaiting a fix", open_quarantine)
    REGISTRY.gauge("gateway_process_uptime_seconds", "seconds since this process started",
                   lambda: time.time() - STARTED)
    REGISTRY.gauge("gateway_policy_publication_seen", "newest policy publication id acted on by this process",
                   lambda: float(policies.seen_publication))
