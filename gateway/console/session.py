"""Console sessions: who is signed in, in a signed cookie (itsdangerous), with a CSRF token per session.

The cookie is ``Secure``, ``HttpOnly`` and ``SameSite=Strict``; it carries the user, name, role and
organisation and a random CSRF token that every form posts back. What the user may do is not in the
cookie: each request checks the role's capabilities in the live policy (roles.yaml), so a change to
roles.yaml applies to signed-in users at once.

Sign-in, for the demo and tests, is the development sign-in: a choice of demo users, one or two for
each role, refused when ``GATEWAY_PRODUCTION=true``. OpenID Connect is the intended production
sign-in (docs/console.md); it would end in ``start`` like the development sign-in.
"""
from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from gateway.requester import Requester

COOKIE = "gateway_console"
LOGIN_COOKIE = "gateway_console_login"  # the CSRF token of the sign-in form (before there is a session)
# Requests from the console are not requests for records: their purpose of use in the audit log is this.
CONSOLE_PURPOSE = "console"
DEMO_ORG = "X26"


class SessionKeyMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Session:
    user: str
    name: str
    role: str
    org: str
    csrf: str

    def requester(self) -> Requester:
        return Requester(user=self.user, name=self.name, role=self.role, org=self.org, purpose=CONSOLE_PURPOSE,
                         client="console")


@dataclass(frozen=True)
class DemoUser:
    user: str
    name: str
    role: str
    org: str = DEMO_ORG


def demo_users(roles: dict[str, Any]) -> list[DemoUser]:
    """Two demo users for each role with a console capability (two IG officers make the two-person
    rule usable), one for every other role (to show what they are refused). From roles.yaml."""
    users = []
    for name, role in roles.items():
        title = name.replace("_", " ")
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


def current(request: Request) -> Session | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = serializer(request).loads(raw, max_age=request.app.state.gateway.settings.console_session_seconds)
        return Session(**data)
    except (BadSignature, SessionKeyMissing, TypeError, ValueError):
        return None


def _set_cookie(response: Response, name: str, value: str, max_age: int, path: str = "/console") -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, secure=True, httponly=True, samesite="strict")


def start(request: Request, response: Response, user: str, name: str, role: str, org: str) -> Session:
    session = Session(user, name, role, org, secrets.token_urlsafe(32))
    _set_cookie(response, COOKIE, serializer(request).dumps(session.__dict__),
                request.app.state.gateway.settings.console_session_seconds)
    response.delete_cookie(LOGIN_COOKIE, path="/console")
    return session


def end(response: Response) -> None:
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
