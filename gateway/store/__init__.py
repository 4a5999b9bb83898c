"""Canonical R4 JSON plus search-index rows, on SQLAlchemy (SQLite by default, PostgreSQL by URL)."""
from gateway.store.database import make_engine, migrate
from gateway.store.resources import ResourceStore, StoredResource, UpsertResult

__all__ = ["ResourceStore", "StoredResource", "UpsertResult", "make_engine", "migrate"]
