"""Batched writes to the resource store: the semantics of ``ResourceStore.upsert``, far fewer round trips.

``ResourceStore.upsert`` costs one SELECT, one INSERT/UPDATE, one version INSERT and one token INSERT
per resource, each built as a fresh statement (SQLAlchemy spends more time building and cache-keying
those than the database spends running them). Ingest writes thousands of resources per file, so
:class:`BulkWriter` instead

* loads the rows it is about to touch with one SELECT per group of keys, and remembers them for the
  rest of the transaction (so a resource written by an earlier message needs no SELECT at all);
* decides every outcome in Python exactly as ``ResourceStore.upsert`` does — created / updated /
  unchanged / stale, ``meta.versionId`` and ``meta.lastUpdated``, version rows, token rows,
  ``clinical_date``, categories, holder and source columns;
* stages the writes and sends them with one ``executemany`` per table on :meth:`flush`.

The caller owns the transaction and wraps :meth:`flush` in a SAVEPOINT, so that one message whose
rows the database refuses rolls back alone (then :meth:`discard` drops its staged state).
Only this writer may write the rows it has loaded while its transaction lasts: call :meth:`forget`
after every commit, since other processes may write between transactions.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.core_table import core_table
from gateway.store.resources import UpsertResult, clinical_date, index_tokens
from gateway.store.tables import ResourceRow, ResourceVersionRow, SearchTokenRow
from gateway.times import as_utc

R = core_table(ResourceRow)
V = core_table(ResourceVersionRow)
T = core_table(SearchTokenRow)

Key = tuple[str, str]  # (resource type, id)

# Statements are built once: executing a prepared Core statement with parameter lists skips the
# per-call statement construction and cache-key generation that dominate ResourceStore.upsert.
_ROW = (R.c.resource_type, R.c.id, R.c.version_id, R.c.content, R.c.source_updated, R.c.deleted, R.c.categories,
        R.c.holder_org, R.c.holder_team, R.c.source_system, R.c.source_id, R.c.labels_version, R.c.label_section)
_LOAD = sa.select(*_ROW).where(
    # Two IN lists rather than a row-value IN: SQLite answers the row-value form by scanning the table,
    # while both engines look these up in the primary key. The few extra (type, id) pairs it may
    # return are dropped by the caller.
    R.c.resource_type.in_(sa.bindparam("types", expanding=True)), R.c.id.in_(sa.bindparam("ids", expanding=True)))
_INSERT = R.insert()
# executemany UPDATE: parameters named like columns become the SET clause.
_UPDATE = R.update().where(R.c.resource_type == sa.bindparam("k_type"), R.c.id == sa.bindparam("k_id"))
_INSERT_VERSION = V.insert()
_DELETE_TOKENS = T.delete().where(T.c.resource_type == sa.bindparam("k_type"),
                                  T.c.resource_id == sa.bindparam("k_id"))
_INSERT_TOKENS = T.insert()
_PATIENTS_BY_IDENTIFIER = sa.select(T.c.code, *_ROW).join_from(
    R, T, sa.and_(T.c.resource_type == R.c.resource_type, T.c.resource_id == R.c.id)).where(
    R.c.resource_type == "Patient", R.c.deleted.is_(False), T.c.param == "identifier",
    T.c.system == sa.bindparam("system"), T.c.code.in_(sa.bindparam("codes", expanding=True)))
_LOAD_CHUNK = 400  # keys per SELECT: well under SQLite's bound-parameter limit


@dataclass(frozen=True)
class CurrentRow:
    """What the resource row holds now, inside this transaction (flushed or staged)."""

    version_id: int
    content: str  # the stored JSON text
    source_updated: datetime | None
    deleted: bool
    categories: str
    holder_org: str | None
    holder_team: str | None
    source_system: str | None = None
    source_id: str | None = None
    labels_version: str | None = None
    label_section: str | None = None

    def parsed(self) -> dict[str, Any]:
        """The content as a dict, parsed once per row (matching, folding and the "unchanged" check all
        read the same Patient): callers must not change it."""
        parsed: dict[str, Any] | None = self.__dict__.get("_parsed")
        if parsed is None:
            parsed = self.__dict__["_parsed"] = orjson.loads(self.content)
        return parsed


@dataclass(frozen=True)
class TouchedPatient:
    """A Patient just staged: its identifier token rows before and after."""

    id: str
    before: list[dict[str, Any]]
    after: list[dict[str, Any]]


def without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource as compared for "unchanged": versionId and lastUpdated are the store's, not the source's."""
    meta = {k: v for k, v in resource.get("meta", {}).items() if k not in ("versionId", "lastUpdated")}
    body = {k: v for k, v in resource.items() if k != "meta"}
    if meta:
        body["meta"] = meta
    return body


class BulkWriter:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection
        self._rows: dict[Key, CurrentRow | None] = {}  # as flushed in this transaction; None: no row
        self._staged: dict[Key, CurrentRow] = {}
        self._inserts: dict[Key, dict[str, Any]] = {}  # rows new in this flush: one INSERT of the final state
        self._updates: dict[Key, dict[str, Any]] = {}  # rows that existed: one UPDATE of the final state
        self._versions: list[dict[str, Any]] = []  # every version written, in order
        self._tokens: dict[Key, list[dict[str, Any]]] = {}  # the final token rows of each written key
        # Patients staged since the caller last looked (answers to "who carries this identifier" may
        # change): (id, identifier token rows before, after)
        self.touched_patients: list[TouchedPatient] = []

    # -- reading ---------------------------------------------------------------------------------
    def load(self, keys: Iterable[Key]) -> None:
        """Fetch, in as few SELECTs as possible, the rows of the keys not already known."""
        missing = list(dict.fromkeys(k for k in keys if k not in self._rows and k not in self._staged))
        for start in range(0, len(missing), _LOAD_CHUNK):
            chunk = missing[start:start + _LOAD_CHUNK]
            wanted = set(chunk)
            for key in chunk:
                self._rows[key] = None
            params = {"types": sorted({t for t, _ in chunk}), "ids": sorted({i for _, i in chunk})}
            for row in self.conn.execute(_LOAD, params):
                key = (row.resource_type, row.id)
                if key in wanted:
                    self._rows[key] = self._current(row)

    @staticmethod
    def _current(row: Any) -> CurrentRow:  # a Row of _ROW
        return CurrentRow(row.version_id, row.content, as_utc(row.source_updated), row.deleted, row.categories,
                          row.holder_org, row.holder_team, row.source_system, row.source_id, row.labels_version,
                          row.label_section)

    def current(self, resource_type: str, rid: str) -> CurrentRow | None:
        key = (resource_type, rid)
        if key in self._staged:
            return self._staged[key]
        if key not in self._rows:
            self.load([key])
        return self._rows[key]

    def patients_with_identifiers(self, system: str, values: Iterable[str]) -> dict[str, list[tuple[str, CurrentRow]]]:
        """For each identifier value: (id, row) of the live Patients carrying it, as this transaction
        sees them — one query for all the values (a row's content is parsed only when asked for).

        The flushed rows come from the token index; staged Patients are judged by the token rows
        they will get, so the answer is the one a query after :meth:`flush` would give.
        """
        values = list(dict.fromkeys(values))
        found: dict[str, dict[str, CurrentRow]] = {value: {} for value in values}
        for start in range(0, len(values), _LOAD_CHUNK):
            params = {"system": system, "codes": values[start:start + _LOAD_CHUNK]}
            for row in self.conn.execute(_PATIENTS_BY_IDENTIFIER, params):
                key = (row.resource_type, row.id)
                if key in self._staged:
                    continue  # judged below, by what it is about to become
                current = self._rows.get(key)
                if current is None:  # the matched Patient is usually written next: keep its row
                    current = self._rows[key] = self._current(row)
                found[row.code][row.id] = current
        for key, staged in self._staged.items():
            if key[0] != "Patient" or staged.deleted:
                continue
            for t in self._tokens.get(key, ()):
                if t["param"] == "identifier" and t["system"] == system and t["code"] in found:
                    found[t["code"]][key[1]] = staged
        return {value: list(patients.items()) for value, patients in found.items()}

    # -- writing ---------------------------------------------------------------------------------
    def upsert(
        self,
        resource: dict[str, Any],
        *,
        patient_id: str | None,
        categories: Sequence[str] = (),
        holder_org: str | None = None,
        holder_team: str | None = None,
        source_system: str | None = None,
        source_id: str | None = None,
        source_updated: datetime | None = None,
        labels_version: str | None = None,
        label_section: str | None = None,
    ) -> UpsertResult:
        """Stage one upsert; the outcome is final once :meth:`flush` succeeds (see ResourceStore.upsert)."""
        rtype, rid = resource["resourceType"], resource["id"]
        key = (rtype, rid)
        source_updated = as_utc(source_updated)
        existing = self.current(rtype, rid)
        joined = " ".join(categories)
        if existing is not None:
            if source_updated and existing.source_updated and source_updated < existing.source_updated:
                return UpsertResult("stale", rtype, rid, existing.version_id)
            # Labels are a cache of the policy's view (re-derived on read when stale): only the
            # content and the adapter's section hint make a new version.
            if (not existing.deleted and existing.label_section == label_section
                    and without_meta(existing.parsed()) == without_meta(resource)):
                return UpsertResult("unchanged", rtype, rid, existing.version_id)
            version = existing.version_id + 1
        else:
            version = 1
        now = datetime.now(UTC)
        stored = dict(resource)
        stored["meta"] = {**resource.get("meta", {}), "versionId": str(version),
                          "lastUpdated": now.isoformat().replace("+00:00", "Z")}
        content = orjson.dumps(stored).decode()  # serialised once: resource row and version row share it
        values = {
            "version_id": version, "last_updated": now, "deleted": False, "patient_id": patient_id,
            "clinical_date": clinical_date(resource), "categories": joined, "holder_org": holder_org,
            "holder_team": holder_team, "source_system": source_system, "source_id": source_id,
            "source_updated": source_updated, "content": content, "labels_version": labels_version,
            "label_section": label_section,
        }
        if key in self._inserts or existing is None:
            self._inserts[key] = {"resource_type": rtype, "id": rid, **values}
        else:
            self._updates[key] = {"k_type": rtype, "k_id": rid, **values}
        self._versions.append({"resource_type": rtype, "id": rid, "version_id": version, "last_updated": now,
                               "deleted": False, "content": content})
        tokens = self._tokens[key] = index_tokens(stored)
        if rtype == "Patient":
            before = index_tokens(existing.parsed()) if existing is not None else []
            self.touched_patients.append(TouchedPatient(
                rid, [t for t in before if t["param"] == "identifier"],
                [t for t in tokens if t["param"] == "identifier"]))
        self._staged[key] = CurrentRow(version, content, source_updated, False, joined, holder_org, holder_team,
                                       source_system, source_id, labels_version, label_section)
        return UpsertResult("created" if version == 1 else "updated", rtype, rid, version)

    def flush(self) -> None:
        """Send the staged writes: one executemany (or COPY) per table. Call inside the caller's SAVEPOINT."""
        if self._updates:
            # Old token rows go first; each written key then gets exactly its final token rows.
            self.conn.execute(_DELETE_TOKENS, [{"k_type": t, "k_id": i} for t, i in self._updates])
        if self._inserts:
            self._insert(_INSERT, list(self._inserts.values()))
        if self._updates:
            self.conn.execute(_UPDATE, list(self._updates.values()))
        if self._versions:
            self._insert(_INSERT_VERSION, self._versions)
        tokens = [row for rows in self._tokens.values() for row in rows]
        if tokens:
            self._insert(_INSERT_TOKENS, tokens)
        self._rows.update(self._staged)
        self._clear_staging()

    def _insert(self, statement: sa.Insert, rows: list[dict[str, Any]]) -> None:
        """New rows: COPY on PostgreSQL through psycopg, where an executemany INSERT costs the server
        a statement per row (about half the flush); executemany elsewhere (sqlite3 runs it in C)."""
        if self.conn.dialect.driver != "psycopg":
            self.conn.execute(statement, rows)
            return
        quote = self.conn.dialect.identifier_preparer.quote
        columns = list(rows[0])
        sql = f"COPY {quote(statement.table.name)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
        raw = self.conn.connection.dbapi_connection
        assert isinstance(raw, psycopg.Connection)  # the driver is psycopg (checked above)
        try:
            with raw.cursor() as cursor, cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row([row[c] for c in columns])
        except psycopg.Error as exc:
            # As SQLAlchemy reports what the database refuses in a statement (IntegrityError, DataError...)
            raise sa.exc.DBAPIError.instance(sql, None, exc, psycopg.Error) from exc

    @property
    def pending(self) -> bool:
        return bool(self._versions)

    def discard(self) -> None:
        """Drop the staged writes (their SAVEPOINT was rolled back): the flushed state is unchanged."""
        self._clear_staging()

    def forget(self) -> None:
        """Drop everything known: after a commit, other writers may change rows before we look again."""
        self._clear_staging()
        self._rows.clear()

    def _clear_staging(self) -> None:
        self._staged.clear()
        self._inserts.clear()
        self._updates.clear()
        self._versions.clear()
        self._tokens.clear()
