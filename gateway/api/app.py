"""The ASGI application: FHIR routes, errors as OperationOutcome, every FHIR answer audited."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy.exc
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response

from gateway.api import audit_routes, fhir_routes, ingest_routes, openapi, ops, person_routes, policy_routes, smart
from gateway.api.errors import BadRequest, FhirError, NotFound, ServiceUnavailable
from gateway.api.middleware import RequestContext
from gateway.api.respond import caller, commit_then, undecided_record
from gateway.api.responses import fhir_response
from gateway.console import mount as mount_console
from gateway.logging import get_logger
from gateway.store.database import unavailable
from gateway.store.search_params import SEARCHABLE_TYPES
from gateway.wiring import Gateway

log = get_logger("gateway.api")
UNAUDITED = ("/fhir/metadata", "/fhir/.well-known/smart-configuration")
AUDITED_PREFIXES = ("/fhir", "/audit", "/ingest", "/policy")


def _error_response(request: Request, error: FhirError) -> Response:
    return fhir_response(request, error.outcome(), error.status, error.headers)


def _audited_error(request: Request, error: FhirError) -> Response:
    """Refusals and errors on record routes are audited like disclosures (docs/architecture.md, invariant 3):
    under the request's own policy snapshot and decisions when it got that far."""
    if not request.url.path.startswith(AUDITED_PREFIXES) or request.url.path in UNAUDITED or isinstance(
            error, ServiceUnavailable):
        return _error_response(request, error)
    outcome = "refused" if error.status in (401, 403) else "error"
    interaction = f"{request.method} {request.url.path}"
    disclosure = getattr(request.state, "disclosure", None)
    try:
        if disclosure is not None:  # (naming the patients reads the store)
            record = disclosure.record(caller(request, interaction), outcome=outcome, status=error.status,
                                       reason=error.diagnostics)
        else:
            gateway: Gateway = request.app.state.gateway
            record = undecided_record(request, getattr(request.state, "requester", None), interaction=interaction,
                                      outcome=outcome, status=error.status,
                                      policy_version=gateway.policies.engine.version, reason=error.diagnostics)
        return commit_then(request, record, _error_response(request, error))
    except ServiceUnavailable as refused:
        return _error_response(request, refused)
    except Exception as exc:  # the record could not even be built (the database went away): nothing is sent
        log.error("audit.record_failed", error=str(exc))
        return _error_response(request, ServiceUnavailable(
            "the answer could not be audited, so nothing is released"))


def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("http.unhandled", error=str(exc))
    return _audited_error(request, FhirError("internal error; the request id identifies it in the logs"))


def _database_error(request: Request, exc: sqlalchemy.exc.DBAPIError) -> Response:
    if not unavailable(exc):
        return _unexpected(request, exc)
    # Down, restarting, full or read-only: nothing can be audited, so nothing is sent but this.
    log.warning("database.unavailable", error=str(exc.orig or exc).strip().splitlines()[0])
    return _error_response(request, ServiceUnavailable("the database is unavailable; try again shortly"))


def _cors(app: FastAPI, origins: list[str]) -> None:
    """Browser apps (SMART) call the API from their own origin: bearer tokens, never cookies, so no
    credentials mode; the origins allowed are a setting (docs/operations.md)."""
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "OPTIONS"],
                           allow_headers=["Authorization", "Content-Type", "Accept", "Prefer", "If-None-Match",
                                          "X-Request-ID"],
                           expose_headers=["ETag", "Last-Modified", "Location", "X-Request-ID", "X-Audit-Sequence"],
                           max_age=600)


def create_app(gateway: Gateway) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Pick up policy versions published by other processes (gateway/policy/publication.py).
        # (Benchmarks swap in fixed-engine holders without publication: nothing to poll then.)
        start, stop = (getattr(gateway.policies, name, None) for name in ("start_polling", "stop_polling"))
        if start is not None:
            start(gateway.settings.policy_poll_seconds)
        yield
        if stop is not None:
            stop()

    app = FastAPI(title="Care record-sharing gateway", version="0.1.0", docs_url="/docs", redoc_url=None,
                  lifespan=lifespan)
    app.state.gateway = gateway
    ops.register_gauges(gateway)
    app.include_router(ops.router)
    # The OpenAPI document declares every answer: success bodies, and an OperationOutcome for every error.
    errors = openapi.error_responses()
    app.include_router(smart.router, responses={**errors, **openapi.json_success()})
    app.include_router(ingest_routes.router, responses={**errors, **openapi.json_success()})
    app.include_router(audit_routes.router, responses={**errors, **openapi.json_success()})
    app.include_router(policy_routes.router,
                       responses={**errors, **openapi.json_success(), **openapi.policy_refusals()})
    # before fhir_routes: its /{resource_type} routes match these paths too
    app.include_router(person_routes.router, responses={**errors, **openapi.fhir_success()})
    app.include_router(fhir_routes.router, responses={**errors, **openapi.fhir_success()})
    mount_console(app)  # the web console for IG staff and auditors

    app.add_middleware(RequestContext, max_body_bytes=gateway.settings.max_body_bytes,
                       tracing=gateway.settings.tracing)
    _cors(app, gateway.settings.cors_origins)

    def described_openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi.describe_fhir(
                get_openapi(title=app.title, version=app.version, routes=app.routes), list(SEARCHABLE_TYPES))
        return app.openapi_schema

    # FastAPI's documented way to extend the generated document is to replace the method.
    app.openapi = described_openapi  # type: ignore[method-assign]

    @app.exception_handler(FhirError)
    def fhir_error(request: Request, exc: FhirError) -> Response:
        return _audited_error(request, exc)

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _audited_error(request, BadRequest(f"{where}: {first.get('msg')}"))

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # A 405 keeps the Allow header the router sent, naming what the path does take.
        error = NotFound(str(exc.detail)) if exc.status_code == 404 else FhirError(
            str(exc.detail), code="not-supported" if exc.status_code == 405 else None, headers=dict(exc.headers or {}))
        error.status = exc.status_code
        return _audited_error(request, error)

    app.exception_handler(sqlalchemy.exc.DBAPIError)(_database_error)
    app.exception_handler(Exception)(_unexpected)

    return app
