"""Quarantine and match-review queues: where ingest puts what it cannot (yet) store."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class QuarantineRow(SQLModel, table=True):
    __tablename__ = "quarantine"

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    format: str = Field(max_length=32)
    origin: str = Field(max_length=1024)  # file (and message position) or "http"
    location: str = Field(max_length=1024)  # entry index / JSON pointer / segment-field / XML path
    reason: str = Field(sa_type=sa.Text)
    raw: bytes = Field(sa_type=sa.LargeBinary)  # the exact bytes to re-process
    status: str = Field(default="open", max_length=16, index=True)  # open / resolved
    resolved_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class MatchReviewRow(SQLModel, table=True):
    __tablename__ = "match_review"

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    format: str = Field(max_length=32)
    origin: str = Field(max_length=1024)
    nhs_number: str | None = Field(default=None, max_length=32, index=True)
    reason: str = Field(sa_type=sa.Text)
    candidate_patient_id: str | None = Field(default=None, max_length=64)
    raw: bytes = Field(sa_type=sa.LargeBinary)  # the source message, re-run on resolve
    status: str = Field(default="open", max_length=16, index=True)  # open / linked / created / rejected
    resolution: str | None = Field(default=None, sa_type=sa.Text)
