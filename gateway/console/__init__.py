"""The web console for IG staff and auditors, and a person's own page: server-rendered pages under ``/console/``.

``mount(app)`` adds its routes, static files and error pages to the gateway's FastAPI app. Pages are
Jinja2 templates with no script; the authorisation is the roles' capabilities in roles.yaml
(``manages_policies`` for the policy pages, ``reads_audit`` for the audit pages), checked on every
request; every action is an audit record. See docs/console.md.
"""
from __future__ import annotations

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from gateway.console import audit_pages, auth_routes, person_pages, policy_pages
from gateway.console.session import SessionKeyMissing
from gateway.console.web import HERE, ConsoleError, error_page

PREFIX = "/console"


def mount(app: FastAPI) -> None:
    router = APIRouter(prefix=PREFIX)
    router.include_router(auth_routes.router)
    router.include_router(policy_pages.router)
    router.include_router(audit_pages.router)
    router.include_router(person_pages.router)
    app.include_router(router, include_in_schema=False)  # HTML pages, not part of the API's OpenAPI document
    app.mount(f"{PREFIX}/static", StaticFiles(directory=str(HERE / "static")), name="console-static")

    @app.exception_handler(ConsoleError)
    def console_error(request: Request, exc: ConsoleError) -> Response:
        if exc.status == 401:
            return RedirectResponse(f"{PREFIX}/login", status_code=303)
        return error_page(request, exc)

    @app.exception_handler(SessionKeyMissing)
    def no_key(request: Request, exc: SessionKeyMissing) -> Response:
        return error_page(request, ConsoleError(503, str(exc)))
