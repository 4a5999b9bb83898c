"""The SQLAlchemy Core table behind a SQLModel table class, typed.

SQLModel sets ``__table__`` on a ``table=True`` class at class creation, but type checkers do not
see it. The stores query through Core, so they take the table from here. Below every package that
defines tables (store, ingest, audit, replay), so none of them imports another for it."""
from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel


def core_table(model: type[SQLModel]) -> sa.Table:
    table = sa.inspect(model).local_table
    assert isinstance(table, sa.Table)  # a table=True class maps exactly one table
    return table
