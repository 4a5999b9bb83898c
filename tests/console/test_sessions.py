"""Console sessions live in the database: sign-out revokes them (a replayed cookie is refused), they end
after the idle and the absolute timeout, and an IG officer can revoke a user's sessions."""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.audit import AuditWriteError
from gateway.store.console_sessions import console_session
from tests.console.conftest import Console
from tests.console.test_console_http import sign_in


def _client(console: Console) -> TestClient:
    return TestClient(create_app(console.gateway), base_url="https://testserver")


@pytest.fixture
def client(console: Console) -> Iterator[TestClient]:
    with _client(console) as c:
        yield c


def _signed_in(client: TestClient) -> bool:
    return client.get("/console/audit/", follow_redirects=False).status_code == 200


def _backdate(console: Console, user: str, **columns: datetime) -> None:
    with console.gateway.engine.begin() as conn:
        conn.execute(console_session.update().where(console_session.c.user_id == user).values(**columns))


def test_the_cookie_names_a_session_row_and_carries_no_user_data(client: TestClient, console: Console) -> None:
    sign_in(client, "auditor-a")
    cookie = client.cookies.get("gateway_console")
    assert cookie and "auditor" not in cookie
    with console.gateway.engine.connect() as conn:
        rows = conn.execute(sa.select(console_session.c.id, console_session.c.role, console_session.c.sign_in)
                            .where(console_session.c.user_id == "auditor-a")).all()
    assert [(r.role, r.sign_in) for r in rows] == [("auditor", "development")]
    assert rows[0].id not in cookie  # the row is keyed by the token's hash, not the token


def test_sign_out_revokes_the_session_and_a_replayed_cookie_is_refused(client: TestClient, console: Console) -> None:
    csrf = sign_in(client, "auditor-a")
    stolen = client.cookies.get("gateway_console")
    answer = client.post("/console/logout", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/login"
    assert not _signed_in(client)
    with _client(console) as replay:
        replay.cookies.set("gateway_console", stolen, domain="testserver", path="/console")
        assert replay.get("/console/audit/", follow_redirects=False).headers["location"] == "/console/login"
    with console.gateway.engine.connect() as conn:
        reason = conn.execute(sa.select(console_session.c.revoked_reason)
                              .where(console_session.c.user_id == "auditor-a")).scalar_one()
    assert reason == "signed-out"
    records = console.gateway.audit.search(user="auditor-a")
    assert any(e.record.get("interaction") == "console.sign-out" for e in records)


def test_sign_out_needs_the_csrf_token(client: TestClient) -> None:
    sign_in(client, "auditor-a")
    assert client.post("/console/logout", data={"csrf": "forged"}).status_code == 403
    assert _signed_in(client)


def test_an_idle_session_ends(client: TestClient, console: Console) -> None:
    sign_in(client, "auditor-a")
    assert _signed_in(client)
    idle = console.gateway.settings.console_session_idle_seconds
    _backdate(console, "auditor-a", last_seen_at=datetime.now(UTC) - timedelta(seconds=idle - 60))
    assert _signed_in(client)  # used within the idle timeout: still live, and touched
    _backdate(console, "auditor-a", last_seen_at=datetime.now(UTC) - timedelta(seconds=idle + 1))
    assert not _signed_in(client)


def test_a_session_ends_at_its_absolute_timeout_however_busy(client: TestClient, console: Console) -> None:
    sign_in(client, "auditor-a")
    _backdate(console, "auditor-a", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert not _signed_in(client)


def test_an_ig_officer_revokes_a_users_sessions_everywhere(console: Console) -> None:
    with _client(console) as auditor, _client(console) as auditor_elsewhere, _client(console) as officer:
        sign_in(auditor, "auditor-a")
        sign_in(auditor_elsewhere, "auditor-a")
        csrf = sign_in(officer, "ig-officer-a")
        listed = officer.get("/console/sessions")
        assert listed.status_code == 200 and listed.text.count("<td>auditor-a</td>") == 2
        assert officer.post("/console/sessions/revoke", data={"user": "auditor-a", "csrf": "forged"}).status_code == 403
        assert _signed_in(auditor)
        answer = officer.post("/console/sessions/revoke", data={"user": "auditor-a", "csrf": csrf})
        assert answer.status_code == 200 and "Revoked 2 session(s) of auditor-a." in answer.text
        assert not _signed_in(auditor) and not _signed_in(auditor_elsewhere)
        record = console.gateway.audit.entry(int(answer.history[0].headers["X-Audit-Sequence"])).record
        assert record["interaction"] == "console.sessions.revoke" and record["revoked"] == {"user": "auditor-a",
                                                                                          "sessions": 2}
        # an auditor may not revoke anyone's sessions
        auditor_csrf = sign_in(auditor, "auditor-b")
        refused = auditor.post("/console/sessions/revoke", data={"user": "ig-officer-a", "csrf": auditor_csrf})
        assert refused.status_code == 403 and "manages_policies" in refused.text
        assert officer.get("/console/policy/", follow_redirects=False).status_code == 200


def test_a_new_sign_in_revokes_the_browsers_earlier_session(client: TestClient, console: Console) -> None:
    sign_in(client, "auditor-a")
    first = client.cookies.get("gateway_console")
    sign_in(client, "auditor-b")
    assert client.cookies.get("gateway_console") != first
    assert re.search(r"Demo auditor B", client.get("/console/").text)
    with _client(console) as replay:
        replay.cookies.set("gateway_console", first, domain="testserver", path="/console")
        assert not _signed_in(replay)


def test_a_sign_in_that_cannot_be_audited_signs_no_one_in(client: TestClient, console: Console,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    page = client.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]

    def disk_full(record: dict[str, object]) -> None:
        raise AuditWriteError("disk full")

    monkeypatch.setattr(console.gateway.disclosure, "commit", disk_full)
    answer = client.post("/console/login", data={"user": "auditor-a", "csrf": token}, follow_redirects=False)
    assert answer.status_code == 503 and "could not be audited" in answer.text
    assert "gateway_console=" not in answer.headers.get("set-cookie", "")
    monkeypatch.undo()
    assert not _signed_in(client)
    with console.gateway.engine.connect() as conn:
        reasons = conn.execute(sa.select(console_session.c.revoked_reason)).scalars().all()
    assert reasons == ["not-audited"]  # the row made before the audit write failed is revoked
