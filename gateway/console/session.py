"""Console sessions: who is signed in, kept in the database (gateway/store/console_sessions.py) and
named by a random token in a signed cookie (itsdangerous), with a CSRF token per session.

The cookie is ``Secure``, ``HttpOnly`` and ``SameSite=Strict`` and carries nothing but the token;
the session row holds the user, name, role, organisation (and the NHS number of a person signed in
as themselves). Signing out revokes the row, so the old cookie is refused even if replayed; a session
also ends after ``console_session_idle_seconds`` unused and ``console_session_seconds`` in all. What
the user may do is not in the session: each request checks the role's capabilities in the live
policy (roles.yaml), so a change to roles.yaml applies to signed-in users at once.

Two sign-ins end in ``start``: OpenID Connect (gateway/console/oidc.py) and, for the demo and tests,
the development sign-in — a choice of demo users, refused when ``GATEWAY_PRODUCTION=true``.
"""
from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from gateway.requester import Requester
from gateway.store.console_sessions import ConsoleSessions, StoredSession

COOKIE = "gateway_console"
LOGIN_COOKIE = "gateway_console_login"  # the CSRF token of the sign-in form (before there is a session)
# Requests from the console are not requests for records: their purpose of use in the audit log is this.
CONSOLE_PURPOSE = "console"
DEMO_ORG = "X26"
PERSON_ORG = "NHS-LOGIN"  # the organisation of a person signed in as themselves
PERSON_PURPOSE = "patient_request"


class SessionKeyMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Session:
    id: str  # the row's key (the token's hash), never the token
    user: str
    name: str
    role: str
    org: str
    csrf: str
    patient: str | None = None  # the NHS number of a person signed in as themselves
    sign_in: str = "development"

    @classmethod
    def of(cls, stored: StoredSession) -> Session:
        return cls(stored.id, stored.user, stored.name, stored.role, stored.org, stored.csrf, stored.patient,
                   stored.sign_in)

    def requester(self) -> Requester:
        return Requester(user=self.user, name=self.name, role=self.role, org=self.org, purpose=CONSOLE_PURPOSE,
                         client="console")


@dataclass(frozen=True)
class DemoUser:
    user: str
    name: str
    role: str
    org: str = DEMO_ORG
    patient: str | None = None


def demo_users(roles: dict[str, Any], people: Sequence[tuple[str, str]] = ()) -> list[DemoUser]:
    """Two demo users for each role with a console capability (two IG officers make the two-person
    rule usable), one for every other role (to show what they are refused), from roles.yaml; and for
    a role with ``own_record_only``, one per invented person given as (NHS number, name)."""
    users = []
    for name, role in roles.items():
        title = name.replace("_", " ")
        if getattr(role, "own_record_only", False):
            users += [DemoUser(f"{name.replace('_', '-')}-{nhs}", person, name, PERSON_ORG, nhs)
                      for nhs, person in people]
            continue
        console_role = getattr(role, "manages_policies", False) or getattr(role, "reads_audit", False)
        for suffix in ("a", "b") if console_role else ("a",):
            users.append(DemoUser(f"{name.replace('_', '-')}-{suffix}", f"Demo {title} {suffix.upper()}", name))
    return users


def _key(settings: Any) -> bytes:
    path = Path(settings.console_session_key)
    if path.exists():
        return path.read_bytes().strip()
    if settings.production:
        raise SessionKeyMissing(f"the console session key {path} does not exist (production mode creates none)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_urlsafe(48).encode())
    return path.read_bytes().strip()


def serializer(request: Request) -> URLSafeTimedSerializer:
    state = request.app.state
    found: URLSafeTimedSerializer | None = getattr(state, "console_serializer", None)
    if found is None:
        found = URLSafeTimedSerializer(_key(state.gateway.settings), salt="gateway-console-session")
        state.console_serializer = found
    return found


def store(request: Request) -> ConsoleSessions:
    state = request.app.state
    found: ConsoleSessions | None = getattr(state, "console_sessions", None)
    if found is None:
        gw = state.gateway
        found = ConsoleSessions(gw.engine, gw.settings.console_session_idle_seconds,
                                gw.settings.console_session_seconds)
        state.console_sessions = found
    return found


_UNREAD = object()


def current(request: Request) -> Session | None:
    """The live session the request's cookie names (looked up once per request), or None."""
    cached = getattr(request.state, "console_session", _UNREAD)
    if cached is not _UNREAD:
        return cached  # type: ignore[return-value]
    found = _lookup(request)
    request.state.console_session = found
    return found


def _lookup(request: Request) -> Session | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        token = serializer(request).loads(raw, max_age=request.app.state.gateway.settings.console_session_seconds)
    except (BadSignature, SessionKeyMissing):
        return None
    stored = store(request).live(token) if isinstance(token, str) else None
    return Session.of(stored) if stored is not None else None


def _set_cookie(response: Response, name: str, value: str, max_age: int, path: str = "/console") -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, secure=True, httponly=True, samesite="strict")


def start(request: Request, response: Response, user: str, name: str, role: str, org: str, *,
          sign_in: str, patient: str | None = None) -> Session:
    """A new server-side session and its cookie; this browser's earlier session, if any, is revoked."""
    earlier = current(request)
    if earlier is not None:
        store(request).revoke(earlier.id, by=earlier.user, reason="signed-in-again")
    token, stored = store(request).create(user=user, name=name, role=role, org=org, sign_in=sign_in,
                                          patient=patient)
    _set_cookie(response, COOKIE, serializer(request).dumps(token),
                request.app.state.gateway.settings.console_session_seconds)
    response.delete_cookie(LOGIN_COOKIE, path="/console")
    session = Session.of(stored)
    request.state.console_session = session
    return session


def end(request: Request, response: Response, session: Session) -> None:
    """Sign out: the session is revoked in the database (its cookie is refused from now on, even if
    replayed), and the browser is told to forget the cookie."""
    store(request).revoke(session.id, by=session.user, reason="signed-out")
    response.delete_cookie(COOKIE, path="/console", secure=True, httponly=True, samesite="strict")


def login_csrf(request: Request) -> tuple[str, str]:
    """A CSRF token for the sign-in form and its signed cookie value (double submit: see set_login_csrf)."""
    token = secrets.token_urlsafe(32)
    return token, serializer(request).dumps(token)


def set_login_csrf(response: Response, signed: str) -> None:
    _set_cookie(response, LOGIN_COOKIE, signed, 900)


def login_csrf_ok(request: Request, submitted: str | None) -> bool:
    raw = request.cookies.get(LOGIN_COOKIE)
    if not raw or not submitted:
        return False
    try:
        expected = serializer(request).loads(raw, max_age=900)
    except BadSignature:
        return False
    return isinstance(expected, str) and hmac.compare_digest(expected, submitted)


def csrf_ok(session: Session, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(session.csrf, submitted or "")
