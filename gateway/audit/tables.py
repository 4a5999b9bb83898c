"""Audit tables (SQLAlchemy Core on the shared SQLModel metadata).

``body`` is the canonical JSON that was hashed; the other columns of audit_record are a search
index derived from it (and are not trusted by verification)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

metadata = SQLModel.metadata

audit_record = sa.Table(
    "audit_record", metadata,
    # Assigned inside the serialised append transaction as head + 1: contiguous, one chain.
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
              autoincrement=False),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("request_id", sa.Text, index=True),
    sa.Column("user_id", sa.Text, index=True),
    sa.Column("org", sa.Text, index=True),
    sa.Column("role", sa.Text),
    sa.Column("purpose", sa.Text),
    sa.Column("outcome", sa.Text),
    sa.Column("categories", sa.Text, nullable=False, default=""),  # "|a|b|" for LIKE '%|a|%'
    sa.Column("needs_review", sa.Boolean, nullable=False, default=False),
    sa.Column("reviewed_by_seq", sa.BigInteger),  # the review record's seq, once reviewed
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Index("ix_audit_record_review", "needs_review", "reviewed_by_seq"),
)

audit_patient = sa.Table(
    "audit_patient", metadata,
    sa.Column("seq", sa.BigInteger, sa.ForeignKey("audit_record.seq", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("patient_id", sa.Text, index=True),
    sa.Column("nhs_number", sa.Text, index=True),
)

audit_checkpoint = sa.Table(
    "audit_checkpoint", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tree_size", sa.BigInteger, nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("root", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # the signed checkpoint JSON
)
