"""Search filters, the review queue, and signing-key handling."""
from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.audit import AuditLog, load_or_create_signing_key, public_key_pem
from gateway.audit.tables import audit_record


@pytest.fixture
def varied(log: AuditLog, make: Any) -> AuditLog:
    log.append(make(user="gp1", org="A81001", role="gp", nhs="9434765919", patient_id="p1",
                    time="2026-03-01T09:00:00+00:00"))                                       # 1
    log.append(make(user="dn1", org="RX1", role="district_nurse", nhs="9434765870", patient_id="p2",
                    categories=("lone_worker", "key_safe"), time="2026-03-02T09:00:00+00:00"))  # 2
    log.append(make(user="sw1", org="C00123", role="social_worker", purpose="safeguarding",
                    outcome="refused", nhs="9434765919", patient_id="p1",
                    time="2026-03-03T09:00:00+00:00"))                                       # 3
    log.append(make(user="gp1", org="A81001", role="gp", purpose="emergency", obligations=("review",),
                    nhs="9434765870", patient_id="p2", time="2026-03-04T23:00:00+00:00"))     # 4
    return log


def seqs(entries: list[Any]) -> list[int]:
    return [e.seq for e in entries]


@pytest.mark.parametrize(("filters", "expected"), [
    ({}, [1, 2, 3, 4]),
    ({"nhs_number": "9434765919"}, [1, 3]),
    ({"patient_id": "p2"}, [2, 4]),
    ({"user": "gp1"}, [1, 4]),
    ({"org": "RX1"}, [2]),
    ({"role": "social_worker"}, [3]),
    ({"purpose": "emergency"}, [4]),
    ({"outcome": "refused"}, [3]),
    ({"category": "key_safe"}, [2]),
    ({"category": "key"}, []),  # whole category names only
    ({"since": datetime(2026, 3, 2, 9, tzinfo=UTC)}, [2, 3, 4]),
    ({"until": "2026-03-03T09:00:00Z"}, [1, 2]),
    ({"user": "gp1", "nhs_number": "9434765870"}, [4]),
    ({"offset": 1, "limit": 2}, [2, 3]),
])
def test_search_filters(varied: AuditLog, filters: dict[str, Any], expected: list[int]) -> None:
    assert seqs(varied.search(**filters)) == expected


def test_review_queue_and_marking(varied: AuditLog) -> None:
    assert seqs(varied.review_queue()) == [4]
    review = varied.mark_reviewed(4, "auditor-1", "emergency access justified: A&E attendance")
    assert review.seq == 5
    assert review.record["reviewed_seq"] == 4 and review.record["requester"]["user"] == "auditor-1"
    assert review.record["comment"].startswith("emergency access justified")
    assert varied.review_queue() == []
    assert varied.verify().ok and varied.verify().checked == 5
    with pytest.raises(LookupError):
        varied.mark_reviewed(4, "auditor-2", "again")
    with pytest.raises(LookupError):
        varied.mark_reviewed(1, "auditor-2", "not awaiting review")


def test_demo_key_is_created_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "var" / "audit.pem"
    created = load_or_create_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert public_key_pem(load_or_create_signing_key(path)) == public_key_pem(created)


def test_verify_detects_a_record_quietly_taken_off_the_review_queue(varied: AuditLog) -> None:
    with varied.engine.begin() as conn:
        conn.execute(sa.update(audit_record).where(audit_record.c.seq == 4).values(reviewed_by_seq=3))
    assert varied.review_queue() == []
    result = varied.verify()
    assert not result.ok and result.first_bad_seq == 4 and "review" in result.reason
