"""The console in a real browser: headless Debian chromium driven by Playwright. Each role signs in
and does its tasks; the tests assert on what the pages show, save a screenshot of each page under
tests/output/console/, check every page with axe-core (no serious or critical violations) and drive
the main forms with the keyboard alone."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from gateway.api.app import create_app
from gateway.policy.proposals import PolicyProposals
from gateway.testing import POSTGRES_ENV, fresh_postgres_database
from tests.console.browser import AXE, SCREENSHOTS, axe_violations, chromium_path, serve
from tests.console.conftest import Console, break_glass, build_console

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
CHROMIUM = chromium_path()
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None,
                       reason="Debian's chromium is not installed (scripts/test installs it when run as root)"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm install in tests/node)"),
    pytest.mark.timeout(240),
]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def console(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """On SQLite and on PostgreSQL (sessions, proposals and the audit log live in the database)."""
    with ExitStack() as stack:
        url = None
        if request.param == "postgres":
            if not os.environ.get(POSTGRES_ENV):
                pytest.skip(f"{POSTGRES_ENV} is not set")
            url = stack.enter_context(fresh_postgres_database())
        c = build_console(tmp_path_factory.mktemp("console"), url)
        yield c
        c.gateway.close()


@pytest.fixture(scope="module")
def review_seq(console: Console) -> int:
    return break_glass(console)


@pytest.fixture(scope="module")
def base_url(console: Console, review_seq: int) -> Iterator[str]:
    with serve(create_app(console.gateway)) as url:
        yield url


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def accessible(page: Any, name: str) -> None:
    """Screenshot, then axe-core: no serious or critical violations."""
    shot(page, name)
    violations = axe_violations(page)
    assert violations == [], f"{name}: {violations}"


def sign_in(page: Any, user: str) -> None:
    page.goto("/console/login")
    page.get_by_label("Demo user").select_option(user)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")
    assert page.get_by_text(f"({user.rsplit('-', 1)[0].replace('-', '_')}", exact=False).first.is_visible()


def test_sign_in_with_the_keyboard(page: Any) -> None:
    page.goto("/console/login")
    accessible(page, "01-login")
    page.keyboard.press("Tab")  # the skip link first
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "user"
    for _ in range(40):  # choose "auditor-b" with the arrow keys
        if page.evaluate("document.activeElement.value") == "auditor-b":
            break
        page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.value") == "auditor-b"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Sign in"
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/")
    assert page.get_by_role("heading", name="Welcome, Demo auditor B").is_visible()
    accessible(page, "02-home-auditor")


def test_policy_matrix_and_explanation(page: Any) -> None:
    sign_in(page, "ig-officer-a")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Policy matrix").click()
    assert page.get_by_role("heading", name="The policy as a table: direct_care").is_visible()
    table = page.get_by_role("table")
    assert table.get_by_role("columnheader", name="receptionist").is_visible()
    assert table.get_by_role("rowheader", name="restricted").is_visible()
    accessible(page, "10-policy-matrix")
    # the receptionist's clinical summary is a notice in the shipped pack; its cell explains why
    cell = page.get_by_role("link", name="receptionist, clinical_summary: notice — explain")
    cell.click()
    assert page.get_by_role("heading", name="Why receptionist / direct_care / clinical_summary is notice").is_visible()
    assert page.get_by_text("No rule matched: the category's default decides").is_visible()
    assert page.get_by_role("cell", name="r1.no_relationship").is_visible()  # a candidate rule, and why it missed
    accessible(page, "11-policy-explain")
    page.goto("/console/policy/?purpose=direct_care")
    page.get_by_role("link", name="gp, clinical_summary: release — explain").click()
    assert page.get_by_role("cell", name="deciding").first.is_visible()
    page.goto("/console/policy/?purpose=emergency")
    assert page.get_by_role("heading", name="The policy as a table: emergency").is_visible()


def test_simulate_a_requester_on_a_real_patient(page: Any, console: Console) -> None:
    sign_in(page, "ig-officer-a")
    page.goto("/console/policy/simulate")
    accessible(page, "20-simulate-form")
    page.get_by_label("Role").select_option("receptionist")
    page.get_by_label("Purpose").select_option("direct_care")
    page.get_by_label("Organisation (ODS code)").fill(console.person.practice_ods)
    page.get_by_label("NHS number").fill(console.person.nhs_number)
    page.get_by_label("NHS number").press("Enter")  # submits from the keyboard
    page.get_by_role("heading", name="Result under").wait_for()
    assert page.get_by_role("heading", name="Released").is_visible()
    noticed = page.get_by_role("heading", name="Noticed")
    assert noticed.is_visible() and noticed.text_content() != "Noticed (0)"
    assert page.get_by_text("were withheld").first.is_visible()
    accessible(page, "21-simulate-result")
    # the simulation showed record content: it is an audit record naming the officer and the subject
    [entry] = [e for e in console.gateway.audit.search(user="ig-officer-a", limit=None)
               if e.record.get("outcome") == "simulated"]
    assert entry.record["simulated_requester"]["role"] == "receptionist"


def test_unknown_patient_is_said_plainly(page: Any) -> None:
    sign_in(page, "ig-officer-b")
    page.goto("/console/policy/simulate")
    page.get_by_label("Organisation (ODS code)").fill("A12345")
    page.get_by_label("NHS number").fill("9999999999")
    page.get_by_role("button", name="Simulate").click()
    assert page.get_by_role("alert").text_content().startswith("0 patients carry NHS number")


def test_edit_diff_propose_and_publish_with_two_officers(page: Any, browser: Any, base_url: str,
                                                         console: Console) -> None:
    # An IG officer tightens the receptionist's access to visits, in the browser's editor.
    old_version = console.gateway.policies.version
    rel = "rules/10_direct_care_matrix.yaml"
    sign_in(page, "ig-officer-a")
    page.goto(f"/console/policy/edit?file={rel}")
    editor = page.get_by_label(rel, exact=True)
    edited = _tighten_receptionist_visits(editor.input_value())
    editor.fill(edited.replace("    effect: notice\n    when:\n      roles: [receptionist]",
                               "    effect: maybe\n    when:\n      roles: [receptionist]"))
    page.get_by_role("button", name="Check").click()
    problems = page.get_by_role("table").first.text_content()
    assert "'maybe' is not one of" in problems and rel in problems
    assert page.get_by_role("table", name="The lines the problems point at").get_by_text("effect: maybe").is_visible()
    accessible(page, "29-edit-problem-at-the-line")
    page.get_by_role("button", name="Save to the policy directory").click()
    assert "Not saved" in page.get_by_role("status").text_content()
    assert "maybe" not in (console.policy_dir / rel).read_text(encoding="utf-8")

    page.get_by_label(rel, exact=True).fill(edited)
    page.get_by_role("button", name="Save to the policy directory").click()
    assert f"Saved {rel}" in page.get_by_role("status").text_content()
    assert (console.policy_dir / rel).read_text(encoding="utf-8") == edited
    assert console.gateway.policies.version == old_version  # saved on disk, not live

    # the IG tests still expect the old matrix: the change cannot be proposed yet
    page.goto("/console/policy/publish")
    assert page.get_by_role("heading", name="Failing IG tests").is_visible()
    assert page.get_by_role("button", name="Propose this version").count() == 0
    shot(page, "30-publish-failing-tests")
    tests_rel = "tests/matrix_direct_care.yaml"
    page.goto(f"/console/policy/edit?file={tests_rel}")
    matrix = page.get_by_label(tests_rel, exact=True)
    matrix.fill(matrix.input_value().replace("visits:                        [R, R, R, R, R, R, R, H]",
                                             "visits:                        [R, R, R, R, R, R, N, H]", 1))
    page.get_by_role("button", name="Check").click()
    assert page.get_by_text("passes its").is_visible()
    page.get_by_role("button", name="Save to the policy directory").click()
    assert f"Saved {tests_rel}" in page.get_by_role("status").text_content()

    page.goto("/console/policy/diff")
    assert page.get_by_text("passes its").first.is_visible()
    words = page.locator("ul.words li")
    assert words.count() > 0
    # e.g. "receptionist (direct care, in the care team) · visits on Encounter “…” · redact without … → notice"
    assert any(w.startswith("receptionist (direct care") and " visits on Encounter" in w and w.endswith("→ notice")
               for w in words.all_text_contents()), words.all_text_contents()
    accessible(page, "30-corpus-diff")

    page.goto("/console/policy/publish")
    accessible(page, "31-publish-before")
    page.get_by_label("What changes and why").fill("Receptionists no longer see visit details")
    page.get_by_role("button", name="Propose this version").click()
    assert "a different IG officer must approve it" in page.get_by_role("status").text_content()
    assert page.get_by_text("Waiting for a different IG officer to approve.").is_visible()
    assert page.get_by_role("button", name="Approve and publish proposal 1").count() == 0  # not for the proposer
    assert console.gateway.policies.version == old_version  # nothing is live yet

    # A second officer approves, with the keyboard.
    second = browser.new_context(base_url=base_url, bypass_csp=True, locale="en-GB", timezone_id="Europe/London")
    other = second.new_page()
    sign_in(other, "ig-officer-b")
    other.goto("/console/policy/publish")
    accessible(other, "32-publish-pending")
    other.get_by_label("Approval comment").focus()
    other.keyboard.type("Agreed at the IG meeting")
    other.keyboard.press("Tab")
    assert other.evaluate("document.activeElement.textContent") == "Approve and publish proposal 1"
    other.keyboard.press("Enter")
    other.get_by_role("status").wait_for()
    assert "approved and published" in other.get_by_role("status").text_content()
    assert console.gateway.policies.version != old_version
    history = other.get_by_role("table").nth(1)
    assert "(in force)" in history.text_content() and "ig-officer-b" in history.text_content()
    accessible(other, "33-publish-after")
    second.close()

    [proposal] = PolicyProposals(console.gateway.engine).list()
    assert (proposal.status, proposal.proposed_by, proposal.decided_by) == ("approved", "ig-officer-a", "ig-officer-b")
    interactions = [e.record.get("interaction") for e in console.gateway.audit.search(limit=None)]
    assert "console.policy.propose" in interactions and "console.policy.approve" in interactions
    # the matrix now shows the new effect
    page.goto("/console/policy/")
    assert page.get_by_role("link", name="receptionist, visits: notice — explain").is_visible()


def test_version_diff_and_rollback(page: Any, browser: Any, base_url: str, console: Console) -> None:
    published = console.gateway.policies.version
    sign_in(page, "ig-officer-b")
    page.goto("/console/policy/publish")
    page.get_by_role("link", name="publication 2: what changed").click()
    changes = page.locator("ul.words li").all_text_contents()
    assert any(c.startswith("receptionist · direct care · visits") and "relationship" in c
               and c.endswith("release → notice") for c in changes), changes
    accessible(page, "34-version-diff")

    page.goto("/console/policy/publish")
    page.get_by_label("Why roll back to publication 1").fill("Front desks need visit times back")
    page.get_by_role("button", name="Propose rollback to publication 1").click()
    assert "a different IG officer must approve it" in page.get_by_role("status").text_content()
    assert page.get_by_role("cell", name="2 (rollback)").is_visible()
    assert console.gateway.policies.version == published

    sign_in(page, "ig-officer-a")
    page.goto("/console/policy/publish")
    page.get_by_role("button", name="Approve and publish proposal 2").click()
    assert "approved and published" in page.get_by_role("status").text_content()
    original = PolicyProposals(console.gateway.engine).get(1)
    assert original is not None and console.gateway.policies.version == original.previous  # the shipped version
    accessible(page, "35-rolled-back")
    page.goto("/console/policy/")
    assert page.get_by_role("link", name="receptionist, visits: release — explain").is_visible()
    rolled = [e.record for e in console.gateway.audit.search(limit=None) if e.record.get("outcome") == "rolled-back"]
    assert len(rolled) == 1 and rolled[0]["policy_change"]["previous"] == published


def _tighten_receptionist_visits(text: str) -> str:
    """Append a rule: receptionists get visits as a notice for direct care."""
    return text.rstrip("\n") + (
        "\n  - id: console_test.receptionist_visits\n"
        "    description: receptionists are told visits exist, not their detail\n"
        "    effect: notice\n"
        "    when:\n"
        "      roles: [receptionist]\n"
        "      purposes: [direct_care]\n"
        "      categories: [visits]\n")


def test_auditor_searches_sees_a_proof_and_exports_csv(page: Any, console: Console, tmp_path: Path) -> None:
    sign_in(page, "auditor-a")
    page.goto("/console/audit/")
    accessible(page, "40-audit-search")
    page.get_by_label("NHS number").fill(console.person.nhs_number)
    page.get_by_label("Break-glass only").check()
    page.get_by_role("button", name="Search").click()
    rows = page.get_by_role("table").locator("tbody tr")
    assert rows.count() == 1 and "GP-BG" in rows.first.text_content() and "(break glass)" in rows.first.text_content()
    page.get_by_label("Break-glass only").uncheck()
    page.get_by_role("button", name="Search").click()
    assert page.get_by_role("table").locator("tbody tr").count() >= 2  # the simulation and the break glass
    accessible(page, "41-audit-search-results")

    with page.expect_download() as download:
        page.get_by_role("link", name="Export these records as CSV").click()
    saved = tmp_path / "records.csv"
    download.value.save_as(saved)
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("seq,") and len(lines) >= 3 and console.person.nhs_number in lines[1] + lines[2]

    page.get_by_role("table").locator("tbody tr").first.get_by_role("link").click()
    page.get_by_role("heading", name="Inclusion proof").wait_for()
    assert page.get_by_text("The proof checks").is_visible()
    accessible(page, "42-audit-record-proof")


def test_paging(page: Any, console: Console) -> None:
    for _ in range(30):  # enough auditor reads to fill more than one page
        console.gateway.audit.append({"type": "audit-access", "requester": {"user": "filler", "role": "auditor"},
                                      "interaction": "filler", "outcome": "disclosed", "status": 200})
    sign_in(page, "auditor-b")
    page.goto("/console/audit/?user=filler")
    assert page.get_by_role("table").locator("tbody tr").count() == 25
    page.get_by_role("link", name="Next 25").click()
    assert page.get_by_role("table").locator("tbody tr").count() == 5
    assert page.get_by_role("link", name="Previous 25").is_visible()


def test_person_history_review_queue_anomalies_and_chain(page: Any, console: Console, review_seq: int) -> None:
    sign_in(page, "auditor-a")
    page.goto(f"/console/audit/person?nhs_number={console.person.nhs_number}")
    body = page.get_by_role("table").text_content()
    assert "GP-BG" in body and "emergency" in body and "unconscious in A&E" in body
    accessible(page, "50-person-history")
    page.emulate_media(media="print")
    shot(page, "51-person-history-print")
    assert page.get_by_role("navigation", name="Main").is_hidden()
    page.emulate_media(media="screen")

    page.goto("/console/audit/review")
    accessible(page, "52-review-queue")
    comment = page.get_by_label(f"Review comment for record {review_seq}")
    comment.focus()
    page.keyboard.type("Confirmed with the A&E consultant")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert f"Record {review_seq} reviewed" in page.get_by_role("status").text_content()
    assert page.get_by_text("Nothing awaits review.").is_visible()
    assert console.gateway.audit.review_queue() == []

    page.goto("/console/audit/anomalies")
    accessible(page, "53-anomalies")

    page.goto("/console/audit/chain")
    assert page.get_by_role("heading", name="Latest signed checkpoint").is_visible()
    page.get_by_role("button", name="Verify now").click()
    assert page.get_by_role("status").text_content().startswith("Intact:")
    accessible(page, "54-chain-verified")


def test_a_role_without_console_capabilities_is_refused(page: Any) -> None:
    sign_in(page, "gp-a")
    assert page.get_by_text("there is nothing for you here").is_visible()
    page.goto("/console/audit/")
    assert "lacks the 'reads_audit' capability" in page.get_by_role("alert").text_content()
    accessible(page, "60-refused")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/login")
    page.goto("/console/policy/")
    assert page.url.endswith("/console/login")
