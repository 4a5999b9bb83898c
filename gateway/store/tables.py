"""Tables of the resource store. Content is stored as the exact R4 JSON that ingest validated."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class ResourceRow(SQLModel, table=True):
    __tablename__ = "resource"
    __table_args__ = (
        sa.UniqueConstraint("source_system", "source_id", name="uq_resource_source"),
        sa.Index("ix_resource_patient_type", "patient_id", "resource_type"),
        sa.Index("ix_resource_type_updated", "resource_type", "last_updated"),
    )

    resource_type: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=64)
    version_id: int = 1
    last_updated: datetime = Field(sa_type=sa.DateTime(timezone=True))
    deleted: bool = False
    patient_id: str | None = Field(default=None, max_length=64)
    clinical_date: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # Space-separated data categories as labelled by the policy whose category definitions hash to
    # ``labels_version``: a cache. The disclosure service re-derives them from the content (and
    # ``label_section``, the adapter's hint) whenever the live policy's definitions differ.
    categories: str = ""
    labels_version: str | None = Field(default=None, max_length=64)
    label_section: str | None = Field(default=None, max_length=64)  # the source section an adapter named
    holder_org: str | None = Field(default=None, max_length=32)
    holder_team: str | None = Field(default=None, max_length=64)
    source_system: str | None = Field(default=None, max_length=128)
    source_id: str | None = Field(default=None, max_length=256)
    source_updated: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    content: str = Field(sa_type=sa.Text)


class ResourceVersionRow(SQLModel, table=True):
    """Every stored version (for vread and _history)."""

    __tablename__ = "resource_version"

    resource_type: str = Field(primary_key=True, max_length=64)
    id: str = Field(primary_key=True, max_length=64)
    version_id: int = Field(primary_key=True)
    last_updated: datetime = Field(sa_type=sa.DateTime(timezone=True))
    deleted: bool = False
    content: str = Field(sa_type=sa.Text)


class SearchTokenRow(SQLModel, table=True):
    """Search index rows: tokens as (system, code) pairs, strings (normalised), references, and date ranges."""

    __tablename__ = "search_token"
    __table_args__ = (
        sa.Index("ix_search_token_lookup", "param", "code", "system"),
        sa.Index("ix_search_token_resource", "resource_type", "resource_id"),
        sa.Index("ix_search_token_range", "param", "low"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    resource_type: str = Field(max_length=64)
    resource_id: str = Field(max_length=64)
    param: str = Field(max_length=64)
    system: str | None = Field(default=None, max_length=256)
    code: str = Field(max_length=256)
    # Date parameters indexed here (not the resource's clinical_date): the range their value covers.
    low: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    high: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
