"""What every console page shares: templates, the signed-in user and their capabilities, CSRF
checks on every form, errors as HTML pages, and audit records for what the console does."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.templating import Jinja2Templates

from gateway.audit import AuditWriteError
from gateway.console import session as sessions
from gateway.console.session import Session

HERE = Path(__file__).resolve().parent
LOCAL = ZoneInfo("Europe/London")  # times are shown, and entered, in UK local time
CAPABILITIES = ("manages_policies", "reads_audit")

templates = Jinja2Templates(directory=str(HERE / "templates"))


def local_time(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return str(value.astimezone(LOCAL).strftime("%d %b %Y %H:%M:%S %Z"))


def parse_local(value: str | None) -> datetime | None:
    """A ``datetime-local`` form value, in UK local time, as an aware UTC time."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConsoleError(400, f"not a date and time: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=LOCAL)
    return parsed.astimezone(UTC)


def short(version: str | None) -> str:
    return (version or "")[:19]


templates.env.filters["local"] = local_time
templates.env.filters["short"] = short


class ConsoleError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def capabilities(request: Request, session: Session | None) -> set[str]:
    if session is None:
        return set()
    role = request.app.state.gateway.policies.engine.vocabulary.roles.get(session.role)
    return {c for c in CAPABILITIES if role is not None and getattr(role, c, False)}


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    session = sessions.current(request)
    context.update(request=request, session=session, caps=capabilities(request, session),
                   policy_version=request.app.state.gateway.policies.version)
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def error_page(request: Request, error: ConsoleError) -> HTMLResponse:
    return render(request, "error.html", status=error.status, message=error.message)


def signed_in(request: Request, capability: str | None = None) -> Session:
    """The signed-in user, who must hold ``capability`` (roles.yaml, the live policy) if one is named."""
    session = sessions.current(request)
    if session is None:
        raise ConsoleError(401, "sign in first")
    if capability is not None and capability not in capabilities(request, session):
        raise ConsoleError(403, f"your role ({session.role}) lacks the {capability!r} capability in roles.yaml")
    return session


async def form_with_csrf(request: Request, capability: str | None) -> tuple[Session, Any]:
    """A posted form from a signed-in user with ``capability``, its CSRF token checked."""
    session = signed_in(request, capability)
    form = await request.form()
    token = form.get("csrf")
    if not sessions.csrf_ok(session, token if isinstance(token, str) else None):
        raise ConsoleError(403, "the form's CSRF token is missing or wrong; reload the page and try again")
    return session, form


def record_for(request: Request, session: Session, interaction: str, *, outcome: str = "disclosed",
               status: int = 200, reason: str | None = None, **extra: Any) -> dict[str, Any]:
    """The audit record of a console action that decided no record content (policy work, sign-in):
    the same shape as the API's records of its non-FHIR surfaces."""
    r = session.requester()
    record = {
        "time": datetime.now(UTC).isoformat(), "request_id": getattr(request.state, "request_id", None),
        "requester": {"user": r.user, "name": r.name, "role": r.role, "org": r.org, "team": r.team},
        "purpose": r.purpose, "justification": None, "client": "console", "interaction": interaction,
        "query": str(request.url.query) or None, "patients": [], "relationship": None,
        "items": {"released": [], "redacted": [], "noticed": [], "hidden": []}, "categories": [], "rule_ids": [],
        "policy_version": request.app.state.gateway.policies.version, "outcome": outcome, "status": status,
        "reason": reason, "obligations": []}
    record.update(extra)
    return record


def audited(request: Request, record: dict[str, Any], response: Response) -> Response:
    """Append the record durably; only then hand back the page. If the audit write fails the user
    gets a 503 page and nothing else (audit before release, fail closed)."""
    try:
        entry = request.app.state.gateway.disclosure.commit(record)
    except AuditWriteError as exc:
        raise ConsoleError(503, "the action could not be audited, so nothing is shown or changed") from exc
    response.headers["X-Audit-Sequence"] = str(getattr(entry, "seq", ""))
    return response


def audit_access(request: Request, session: Session, action: str, response: Response) -> Response:
    """An auditor's look at the log is itself appended to it (like the /audit API)."""
    record = {"type": "audit-access", "request_id": getattr(request.state, "request_id", None),
              "requester": {"user": session.user, "name": session.name, "role": session.role, "org": session.org},
              "purpose": sessions.CONSOLE_PURPOSE, "client": "console", "interaction": action,
              "query": str(request.url.query) or None, "outcome": "disclosed", "status": response.status_code}
    return audited(request, record, response)
