"""Sign-in and sign-out. The development sign-in (demo users from roles.yaml) is refused in production
mode, where OpenID Connect is the intended sign-in (not built yet: docs/console.md)."""
from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.console import session as sessions
from gateway.console.web import ConsoleError, audited, form_with_csrf, record_for, render, signed_in

router = APIRouter()


def _demo_users(request: Request) -> list[sessions.DemoUser]:
    gw = request.app.state.gateway
    if gw.settings.production:
        raise ConsoleError(403, "the development sign-in is refused in production mode")
    return sessions.demo_users(gw.policies.engine.vocabulary.roles)


@router.get("/")
def home(request: Request) -> Response:
    if sessions.current(request) is None:
        return RedirectResponse("/console/login", status_code=303)
    return render(request, "home.html")


@router.get("/login")
def login_form(request: Request) -> Response:
    users = _demo_users(request)
    token, signed = sessions.login_csrf(request)
    page = render(request, "login.html", users=users, csrf_login=token)
    sessions.set_login_csrf(page, signed)
    return page


@router.post("/login")
async def login(request: Request) -> Response:
    users = {u.user: u for u in _demo_users(request)}
    form = await request.form()
    submitted = form.get("csrf")
    if not sessions.login_csrf_ok(request, submitted if isinstance(submitted, str) else None):
        raise ConsoleError(403, "the sign-in form's CSRF token is missing or wrong; reload the page and try again")
    user = users.get(str(form.get("user", "")))
    if user is None:
        raise ConsoleError(400, "choose one of the demo users")
    response = RedirectResponse("/console/", status_code=303)
    session = sessions.start(request, response, user.user, user.name, user.role, user.org)
    return audited(request, record_for(request, session, "console.sign-in", outcome="signed-in",
                                       sign_in="development"), response)


@router.post("/logout")
async def logout(request: Request) -> Response:
    session, _ = await form_with_csrf(request, None)
    response = RedirectResponse("/console/login", status_code=303)
    sessions.end(response)
    return audited(request, record_for(request, session, "console.sign-out", outcome="signed-out"), response)


@router.get("/whoami")
def whoami(request: Request) -> Response:
    signed_in(request)
    return render(request, "home.html")
