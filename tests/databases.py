"""The database a test runs on: a SQLite file, or a fresh database on the PostgreSQL server named by
GATEWAY_TEST_POSTGRES_URL (the test is skipped when none is configured). Fixtures of any scope use it."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gateway.testing import POSTGRES_ENV, fresh_postgres_database


@contextmanager
def database_for(kind: str, directory: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'gateway.sqlite'}"
        return
    if not os.environ.get(POSTGRES_ENV):
        pytest.skip(f"{POSTGRES_ENV} is not set")
    with fresh_postgres_database() as url:
        yield url
