"""One database transaction for many messages, each message still all-or-nothing.

Committing every message made ingest pay a durable commit (an fsync on SQLite) per CSV row or HL7
message. An :class:`IngestBatch` instead keeps one connection and transaction open across the
messages of its inputs (committing every ``size`` messages, or sooner once ``seconds`` have passed:
on SQLite the batch holds the one write lock, which the audit log needs for every API response; the
next transaction begins only when the next group of messages needs the database), and writes the
rows of a group of messages inside a SAVEPOINT: should the database refuse them, each message is
re-run in a SAVEPOINT of its own, so that the refused one rolls back alone and is quarantined while
its neighbours are kept.

Everything the pipeline writes during a batch goes through this one connection — resources,
quarantine and match-review entries — because on SQLite a second connection would wait for our
write lock, and on both engines it would not see this transaction's uncommitted rows.

Several processes may ingest at once on PostgreSQL (``gateway ingest --jobs``). Every row a message
writes belongs to the person its NHS number names, so a transaction first *claims* the people of a
group (:meth:`claim_people`: one transaction-scoped advisory lock per NHS number) and only then
reads and writes their rows: two processes never match or write the same person at once, so neither
can create a second Patient for someone the other is creating, nor overwrite the other's rows. On
SQLite the one write lock (``BEGIN IMMEDIATE``) already serialises whole transactions.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from types import TracebackType
from typing import Self

import sqlalchemy.exc
from sqlalchemy.engine import Connection, Engine

from adapters import nhs_number
from adapters.base import NHS_NUMBER_SYSTEM
from gateway.store.bulk import BulkWriter, CurrentRow

# What the database says about one message's rows (a duplicate source key, a value too long for its
# column): that message is quarantined with the reason. Anything else (lost connection, lock
# timeout) is not the message's fault and propagates.
REFUSALS = (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.DataError)

# Advisory-lock keys of people: NHS numbers (< 2**34) under a namespace of their own, apart from the
# audit log's key and anything else that takes advisory locks.
_PERSON_LOCKS = 0x696E67 << 40  # "ing"
_TRY_CLAIM = sqlalchemy.text(
    "SELECT k FROM unnest(CAST(:keys AS bigint[])) AS k WHERE NOT pg_try_advisory_xact_lock(k)")
_CLAIM = sqlalchemy.text("SELECT pg_advisory_xact_lock(:k)")


def person_lock_key(number: str) -> int | None:
    """The advisory-lock key of the person with this NHS number (None for a number matching refuses)."""
    return _PERSON_LOCKS | int(number) if nhs_number.is_valid(number) else None


class IngestBatch:
    """The transaction begins when the first group needs it (:meth:`begin`) and again after each
    commit only when the next group does: no lock is held while the caller reads and parses input."""

    def __init__(self, engine: Engine, size: int, seconds: float = 0.5) -> None:
        self.engine = engine
        self.size = max(1, size)
        self.seconds = seconds
        self._started = 0.0
        self._open = False
        self.conn: Connection = engine.connect()
        self.writer = BulkWriter(self.conn)
        self._patients: dict[str, list[tuple[str, CurrentRow]]] = {}  # NHS number -> candidates
        self._claimed: set[int] = set()  # person locks this transaction holds (PostgreSQL)
        self._messages = 0

    def begin(self) -> None:
        """Open the transaction, unless it is open (call before a group reads or writes)."""
        if self._open:
            return
        self._started = time.monotonic()
        if self.conn.dialect.name == "sqlite":
            # pysqlite opens a transaction only before INSERT/UPDATE/DELETE; a SAVEPOINT outside one
            # would become the transaction and its RELEASE a commit. IMMEDIATE also takes the write
            # lock up front, so reading (matching) then writing cannot fail to upgrade the lock.
            self.conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            self.conn.begin()
            # The tables grow fast during a batch; a generic plan that psycopg's prepared statements
            # settle on while they were small (a scan) would stay in use for the whole connection.
            self.conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
        self._open = True

    def commit(self) -> None:
        self.conn.commit()
        self._open = False
        self.writer.forget()  # other writers may change rows between our transactions
        self.writer.touched_patients.clear()
        self._patients.clear()
        self._claimed.clear()  # transaction-scoped: released by the commit
        self._messages = 0

    # -- claiming people (PostgreSQL) ------------------------------------------------------------
    def claim_people(self, numbers: Iterable[str]) -> None:
        """Hold the person lock of every NHS number until the transaction ends (call after :meth:`begin`,
        with nothing staged, before the group reads any row).

        Deadlock-free: locks are first only *tried*; if another process holds one, this transaction
        commits (releasing everything it holds; the messages before are complete) and the new one
        waits for the group's locks in ascending order while holding no other. A process that waits
        therefore holds only smaller keys than the one it waits for, and no cycle of waits can form.
        """
        if self.conn.dialect.name != "postgresql":
            return
        wanted = sorted({key for n in numbers if (key := person_lock_key(n)) is not None} - self._claimed)
        if not wanted:
            return
        busy = {row.k for row in self.conn.execute(_TRY_CLAIM, {"keys": wanted})}
        self._claimed.update(k for k in wanted if k not in busy)
        if not busy:
            return
        self.commit()
        self.begin()
        for key in wanted:
            self.conn.execute(_CLAIM, {"k": key})
        self._claimed.update(wanted)

    # -- matching --------------------------------------------------------------------------------
    def patients_with_nhs_number(self, number: str) -> list[tuple[str, CurrentRow]]:
        """Patients with this NHS number as this transaction sees them (staged rows included).

        Answers are remembered (see :meth:`prefetch_patients`) and kept up to date as this batch
        stages Patients: matching a message about a person already seen in this transaction costs
        no query, even when the message before changed that person.
        """
        self._follow_staged()
        if number not in self._patients:
            self._patients.update(self.writer.patients_with_identifiers(NHS_NUMBER_SYSTEM, [number]))
        return self._patients[number]

    def prefetch_patients(self, numbers: Iterable[str]) -> None:
        """Look up many NHS numbers in one query (a group's messages, before they are matched)."""
        self._follow_staged()
        wanted = [n for n in numbers if n not in self._patients]
        if wanted:
            self._patients.update(self.writer.patients_with_identifiers(NHS_NUMBER_SYSTEM, wanted))

    def _follow_staged(self) -> None:
        """Apply the Patients staged since the last look to the remembered answers, as a query would
        see them: a Patient that no longer carries a number leaves its answer, one that now does joins it.
        (Only this transaction writes these rows until it commits, and commits forget every answer.)"""
        for touched in self.writer.touched_patients:
            now = {t["code"] for t in touched.after if t["system"] == NHS_NUMBER_SYSTEM}
            was = {t["code"] for t in touched.before if t["system"] == NHS_NUMBER_SYSTEM}
            for code in now | was:
                known = self._patients.get(code)
                if known is None:
                    continue  # not asked about yet: a query will see the staged row
                kept = [(pid, c) for pid, c in known if pid != touched.id]
                if code in now:
                    row = self.writer.current("Patient", touched.id)
                    assert row is not None, "a Patient this transaction staged has a row"
                    kept.append((touched.id, row))
                self._patients[code] = kept
        self.writer.touched_patients.clear()

    # -- writing ---------------------------------------------------------------------------------
    def flush(self) -> str | None:
        """Write the staged rows in one SAVEPOINT; the database's refusal (first line), if it refused.

        After a refusal the caller must :meth:`abandon` the staged rows (the SAVEPOINT rolled back).
        """
        if not self.writer.pending:
            return None
        try:
            with self.conn.begin_nested():
                self.writer.flush()
        except REFUSALS as exc:
            return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        return None

    def abandon(self) -> None:
        """Forget the staged rows and whatever matching learnt from them."""
        self.writer.discard()
        self.writer.touched_patients.clear()
        self._patients.clear()

    def messages_done(self, count: int) -> None:
        """Commit once ``size`` messages are written or the transaction is old (call with nothing staged;
        ``count=0`` between inputs: the time bound holds however long reading the next one takes)."""
        self._messages += count
        if self._open and (self._messages >= self.size or time.monotonic() - self._started >= self.seconds):
            self.commit()

    # -- lifetime --------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            # Messages finished before an unexpected error stay stored, as they would have been had
            # each been committed alone; the failing message's staged rows were never flushed.
            self.abandon()
            self.conn.commit()
        except Exception:
            self.conn.rollback()
            if exc is None:
                raise
        finally:
            self.conn.close()
