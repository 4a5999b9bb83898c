"""Sign-in and sign-out: OpenID Connect against the configured issuer (gateway/console/oidc.py), and
the development sign-in (demo users from roles.yaml, and the invented people in the store), which is
refused in production mode. Sign-out revokes the session in the database. Every sign-in, refused
sign-in and sign-out is an audit record."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.base_client import OAuthError
from fastapi import APIRouter
from httpx import HTTPError
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from adapters.base import NHS_NUMBER_SYSTEM
from gateway.audit import AuditWriteError
from gateway.console import oidc
from gateway.console import session as sessions
from gateway.console.web import ConsoleError, audited, form_with_csrf, record_for, render, signed_in

router = APIRouter()
DEMO_PEOPLE = 10  # the development sign-in offers this many invented people as themselves


def _people(request: Request) -> list[tuple[str, str]]:
    """(NHS number, name) of the first few people in the store, for the development sign-in."""
    found = []
    for patient in request.app.state.gateway.store.search("Patient", limit=DEMO_PEOPLE):
        content = patient.content
        nhs = next((i.get("value") for i in content.get("identifier") or []
                    if i.get("system") == NHS_NUMBER_SYSTEM), None)
        name = (content.get("name") or [{}])[0]
        if nhs:
            found.append((str(nhs), " ".join([*(name.get("given") or []), name.get("family") or ""]).strip()))
    return found


def _demo_users(request: Request) -> list[sessions.DemoUser]:
    gw = request.app.state.gateway
    if gw.settings.production:
        raise ConsoleError(403, "the development sign-in is refused in production mode")
    return sessions.demo_users(gw.policies.engine.vocabulary.roles, _people(request))


@router.get("/")
def home(request: Request) -> Response:
    session = sessions.current(request)
    if session is None:
        return RedirectResponse("/console/login", status_code=303)
    if session.patient:
        return RedirectResponse("/console/me/", status_code=303)
    return render(request, "home.html")


@router.get("/login")
async def login_form(request: Request) -> Response:
    gw = request.app.state.gateway
    users = [] if gw.settings.production else await run_in_threadpool(_demo_users, request)
    token, signed = sessions.login_csrf(request)
    page = render(request, "login.html", users=users, csrf_login=token, oidc=oidc.configured(gw.settings),
                  production=gw.settings.production)
    sessions.set_login_csrf(page, signed)
    return page


@router.post("/login")
async def login(request: Request) -> Response:
    users = {u.user: u for u in await run_in_threadpool(_demo_users, request)}
    form = await request.form()
    submitted = form.get("csrf")
    if not sessions.login_csrf_ok(request, submitted if isinstance(submitted, str) else None):
        raise ConsoleError(403, "the sign-in form's CSRF token is missing or wrong; reload the page and try again")
    user = users.get(str(form.get("user", "")))
    if user is None:
        raise ConsoleError(400, "choose one of the demo users")
    return await run_in_threadpool(_signed_in, request, user.user, user.name, user.role, user.org, "development",
                                   user.patient)


def _signed_in(request: Request, user: str, name: str, role: str, org: str, how: str,
               patient: str | None, **extra: Any) -> Response:
    """Start the session, audit the sign-in (fail closed: an unaudited session is revoked), go home.
    After OpenID Connect the way home is a page that refreshes to it, not a redirect: the issuer's
    redirect back is a cross-site navigation, and a SameSite=Strict cookie set during one is not
    sent on its next hop, whereas a refresh from our own page is same-site."""
    home = "/console/me/" if patient else "/console/"
    response: Response = (render(request, "signed_in.html", home=home) if how == "oidc"
                          else RedirectResponse(home, status_code=303))
    session = sessions.start(request, response, user, name, role, org, sign_in=how, patient=patient)
    record = record_for(request, session, "console.sign-in", outcome="signed-in", sign_in=how, **extra)
    try:
        return audited(request, record, response)
    except ConsoleError:
        sessions.store(request).revoke(session.id, by="console", reason="not-audited")  # fail closed
        request.state.console_session = None
        raise


# -- OpenID Connect ------------------------------------------------------------------------------------------
def _oidc_client(request: Request) -> Any:
    settings = request.app.state.gateway.settings
    if not oidc.configured(settings):
        raise ConsoleError(404, "OpenID Connect sign-in is not configured (GATEWAY_CONSOLE_OIDC_ISSUER)")
    try:
        return oidc.client(request)
    except oidc.SignInRefused as exc:
        raise ConsoleError(503, str(exc)) from exc


@router.post("/oidc/login")
async def oidc_login(request: Request) -> Response:
    """Start the authorisation-code flow (POST, with the sign-in form's CSRF token: a sign-in is not
    started by a link on another site)."""
    client = _oidc_client(request)
    form = await request.form()
    submitted = form.get("csrf")
    if not sessions.login_csrf_ok(request, submitted if isinstance(submitted, str) else None):
        raise ConsoleError(403, "the sign-in form's CSRF token is missing or wrong; reload the page and try again")
    oidc.load_flow(request)
    try:
        callback = oidc.redirect_uri(request.app.state.gateway.settings)
        response: Response = await client.authorize_redirect(request, callback)
    except (HTTPError, OAuthError, ValueError, KeyError) as exc:
        raise ConsoleError(502, f"the OpenID Connect issuer could not be reached or described itself wrongly: "
                                f"{exc}") from exc
    response.status_code = 303
    oidc.save_flow(request, response)
    return response


@router.get("/oidc/callback")
async def oidc_callback(request: Request) -> Response:
    client = _oidc_client(request)
    gw = request.app.state.gateway
    oidc.load_flow(request)
    try:
        token = await client.authorize_access_token(request, claims_options=oidc.claims_options(gw.settings))
        claims = token.get("userinfo")
        if not claims:
            raise oidc.SignInRefused("the issuer sent no ID token")
        user = oidc.user_from_claims(dict(claims), gw.settings, gw.policies.engine)
    except (OAuthError, JoseError, HTTPError, ValueError, oidc.SignInRefused) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        response = await run_in_threadpool(_refused, request, reason)
        oidc.save_flow(request, response)
        return response
    response = await run_in_threadpool(_signed_in, request, user.user, user.name, user.role, user.org, "oidc",
                                       user.patient, issuer=gw.settings.console_oidc_issuer)
    request.scope["session"] = {}
    oidc.save_flow(request, response)  # the flow is over: its cookie goes
    return response


def _refused(request: Request, reason: str) -> Response:
    """A refused sign-in: audited (naming no one: nothing about the caller was verified), then said."""
    record: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(), "request_id": getattr(request.state, "request_id", None),
        "requester": None, "justification": None, "relationship": None, "categories": [], "rule_ids": [],
        "obligations": [], "policy_version": request.app.state.gateway.policies.version,
        "purpose": sessions.CONSOLE_PURPOSE, "client": "console", "interaction": "console.sign-in",
        "query": None, "outcome": "refused", "status": 403, "reason": reason[:500], "sign_in": "oidc",
        "patients": [], "items": {"released": [], "redacted": [], "noticed": [], "hidden": []}}
    try:
        request.app.state.gateway.disclosure.commit(record)
    except AuditWriteError as exc:
        raise ConsoleError(503, "the sign-in could not be audited") from exc
    return render(request, "error.html", status=403, message=f"Sign-in refused: {reason}")


@router.post("/logout")
async def logout(request: Request) -> Response:
    session, _ = await form_with_csrf(request, None)
    response = RedirectResponse("/console/login", status_code=303)
    await run_in_threadpool(sessions.end, request, response, session)
    return await run_in_threadpool(audited, request, record_for(request, session, "console.sign-out",
                                                                outcome="signed-out"), response)


@router.get("/whoami")
def whoami(request: Request) -> Response:
    signed_in(request)
    return render(request, "home.html")


# -- IG: who is signed in, and revoking a user's sessions ----------------------------------------------------
@router.get("/sessions")
async def sessions_page(request: Request) -> Response:
    session = signed_in(request, "manages_policies")
    active = await run_in_threadpool(sessions.store(request).active)
    return render(request, "sessions.html", active=active, csrf=session.csrf,
                  message=request.query_params.get("message"))


@router.post("/sessions/revoke")
async def revoke_sessions(request: Request) -> Response:
    session, form = await form_with_csrf(request, "manages_policies")
    user = str(form.get("user", "")).strip()
    if not user:
        raise ConsoleError(400, "name the user whose sessions are to be revoked")
    count = await run_in_threadpool(sessions.store(request).revoke_user, user, by=session.user)
    response = RedirectResponse("/console/sessions?" + urlencode({"message": f"Revoked {count} session(s) of {user}."}),
                                status_code=303)
    record = record_for(request, session, "console.sessions.revoke", outcome="revoked",
                        revoked={"user": user, "sessions": count})
    return await run_in_threadpool(audited, request, record, response)
