"""The search query over the index columns (and the audit_patient side table)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from gateway.audit.tables import audit_patient, audit_record
from gateway.times import as_utc


def query(*, nhs_number: str | None = None, patient_id: str | None = None, user: str | None = None,
          org: str | None = None, role: str | None = None, purpose: str | None = None,
          outcome: str | None = None, category: str | None = None, since: datetime | str | None = None,
          until: datetime | str | None = None, needs_review: bool | None = None,
          person: tuple[str | None, str | None] | None = None,
          offset: int = 0, limit: int | None = 100) -> sa.Select[Any]:
    """Records matching every given filter, in sequence order; ``until`` is exclusive."""
    r = audit_record.c
    conditions: list[sa.ColumnElement[bool]] = []
    for column, value in ((r.user_id, user), (r.org, org), (r.role, role), (r.purpose, purpose),
                          (r.outcome, outcome)):
        if value is not None:
            conditions.append(column == value)
    for column, value in ((audit_patient.c.nhs_number, nhs_number), (audit_patient.c.patient_id, patient_id)):
        if value is not None:
            conditions.append(sa.exists().where(audit_patient.c.seq == r.seq, column == value))
    if person is not None:  # (NHS number, patient id): records naming the person by either
        either = [column == value for column, value in zip((audit_patient.c.nhs_number, audit_patient.c.patient_id),
                                                            person, strict=True) if value is not None]
        conditions.append(sa.exists().where(audit_patient.c.seq == r.seq, sa.or_(*either)) if either
                          else sa.false())
    if category is not None:
        conditions.append(r.categories.like(f"%|{category}|%"))
    if since is not None:
        conditions.append(r.time >= as_utc(since))
    if until is not None:
        conditions.append(r.time < as_utc(until))
    if needs_review is not None:
        conditions.append(r.needs_review.is_(needs_review))
    statement = sa.select(audit_record).where(*conditions).order_by(r.seq).offset(offset)
    return statement.limit(limit) if limit is not None else statement
