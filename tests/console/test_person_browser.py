"""In headless chromium: a person reads their own page (/console/me/) after the development sign-in and
after signing in through the test OpenID provider; a member of staff signs in through it too. Each
page is asserted on, screenshotted under tests/output/console/, checked with axe-core, and driven
by keyboard; another person's page is refused."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adapters.synthetic.people import Person, invent_people
from gateway.api.app import create_app
from tests.console.browser import AXE, free_port, serve
from tests.console.conftest import Console, break_glass, build_console
from tests.console.identity import Provider, provider, staff_and_people
from tests.console.test_console_browser import CHROMIUM, accessible, shot
from tests.databases import database_for

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None,
                       reason="Debian's chromium is not installed (scripts/test installs it when run as root)"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm install in tests/node)"),
    pytest.mark.timeout(240),
]
PERSON: Person = next(p for p in invent_people(12, seed=3) if p.conditions)  # the console's person
OTHER: Person = next(p for p in invent_people(12, seed=3) if p.nhs_number != PERSON.nhs_number)
PORT = free_port()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with database_for(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    users = staff_and_people(PERSON.nhs_number, f"{PERSON.given} {PERSON.family}")
    with provider(tmp_path_factory.mktemp("idp"), f"http://127.0.0.1:{PORT}/console/oidc/callback", users) as p:
        yield p


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, database: str, idp: Provider) -> Iterator[Console]:
    c = build_console(tmp_path_factory.mktemp("console"), database, public_url=f"http://127.0.0.1:{PORT}",
                      **idp.settings())
    assert c.person.nhs_number == PERSON.nhs_number
    break_glass(c)
    yield c
    c.gateway.close()


@pytest.fixture(scope="module")
def base_url(console: Console) -> Iterator[str]:
    with serve(create_app(console.gateway), port=PORT) as url:
        yield url


def name(database: str) -> str:
    return "pg" if database.startswith("postgresql") else "sqlite"


def test_a_person_reads_their_own_page_by_keyboard_and_in_print(page: Any, database: str) -> None:
    page.goto("/console/login")
    page.get_by_label("Demo user").select_option(f"patient-{PERSON.nhs_number}")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/console/me/")
    assert page.get_by_role("heading", name="Who looked at my record, and why").is_visible()
    history = page.get_by_role("table", name="Access history")
    text = history.text_content()
    assert "GP-BG" in text and "emergency access: “unconscious in A&E”" in text  # the break glass, with its reason
    choices = page.get_by_role("table", name="My sharing choices")
    assert "You have recorded no sharing choices." in choices.text_content()
    accessible(page, f"70-me-{name(database)}")
    # keyboard: the skip link first, and it takes focus to the page's content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.textContent") == "Sign out"  # the header's last stop
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.textContent") == "My record's access history"
    page.emulate_media(media="print")
    shot(page, f"71-me-print-{name(database)}")
    assert page.get_by_role("navigation", name="Main").is_hidden()
    assert history.is_visible()


def test_another_persons_page_is_refused(page: Any, database: str) -> None:
    page.goto("/console/login")
    page.get_by_label("Demo user").select_option(f"patient-{PERSON.nhs_number}")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/console/me/")
    page.goto(f"/console/me/?nhs_number={OTHER.nhs_number}")
    assert "theirs alone" in page.get_by_role("alert").text_content()
    assert OTHER.family not in page.content()
    accessible(page, f"72-me-other-refused-{name(database)}")
    page.goto("/console/audit/")
    assert "lacks the 'reads_audit' capability" in page.get_by_role("alert").text_content()


def at_the_provider(page: Any, idp: Provider, account: str) -> None:
    page.goto("/console/login")
    page.get_by_role("button", name="Sign in with OpenID Connect").click()
    page.wait_for_url(f"{idp.issuer}/authorize?**")
    page.get_by_label("Account").select_option(account)
    page.get_by_role("button", name="Continue").click()


def test_staff_sign_in_through_openid_connect(page: Any, idp: Provider, console: Console, database: str) -> None:
    at_the_provider(page, idp, "cis2-auditor")
    page.wait_for_url("**/console/")  # via the callback's page, which refreshes to the console
    assert page.get_by_role("heading", name="Welcome, Audrey Tor").is_visible()
    assert page.get_by_text("Audrey Tor (auditor, X26)").is_visible()
    accessible(page, f"73-oidc-staff-home-{name(database)}")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit search").click()
    assert page.get_by_role("heading", name="Search the disclosure log").is_visible()
    signed = [e.record for e in console.gateway.audit.search(limit=None)
              if e.record.get("interaction") == "console.sign-in" and e.record.get("sign_in") == "oidc"]
    assert signed and signed[-1]["requester"]["user"] == "cis2-auditor"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/login")
    page.goto("/console/audit/")
    assert page.url.endswith("/console/login")


def test_a_person_signs_in_through_openid_connect_and_sees_their_page(page: Any, idp: Provider,
                                                                      database: str) -> None:
    at_the_provider(page, idp, "nhs-login-person")
    page.wait_for_url("**/console/me/")
    assert page.get_by_text(f"NHS number {PERSON.nhs_number}").is_visible()
    assert "unconscious in A&E" in page.get_by_role("table", name="Access history").text_content()
    accessible(page, f"74-oidc-person-me-{name(database)}")


def test_an_unmapped_job_role_is_refused_in_the_browser(page: Any, idp: Provider, database: str) -> None:
    at_the_provider(page, idp, "cis2-unmapped")
    alert = page.get_by_role("alert")
    assert "Sign-in refused" in alert.text_content() and "R9999" in alert.text_content()
    accessible(page, f"75-oidc-refused-{name(database)}")
    page.goto("/console/")
    assert page.url.endswith("/console/login")


