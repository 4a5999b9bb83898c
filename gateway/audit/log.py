"""AuditLog: append, checkpoint, verify, export, prove, search, review, prune.

Appends are serialised across processes (PostgreSQL: a transaction-scoped advisory lock;
SQLite: BEGIN IMMEDIATE), so the head read inside the transaction is the true predecessor and
the database assigns seq = head + 1 — one contiguous chain however many gateways write. On
PostgreSQL the chain step is one statement (pg_append), to keep the lock short.

Within a process, appends are group-committed: concurrent callers share one transaction and one
durable commit (see ``append``), which is what lets throughput grow with concurrency while each
response still waits for its own record."""
from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Connection, Engine

from gateway.audit import pg_append
from gateway.audit import search as search_mod
from gateway.audit.canonical import canonical
from gateway.audit.chain import GENESIS_HASH, link
from gateway.audit.continuity import check_continuity
from gateway.audit.index_check import IndexCheck
from gateway.audit.indexing import now_iso
from gateway.audit.merkle import Frontier, Tree, leaf_hash
from gateway.audit.model import (
    AuditEntry,
    AuditWriteError,
    Checkpoint,
    ExportSummary,
    Verification,
)
from gateway.audit.prepared import Prepared
from gateway.audit.signing import public_key_pem, sign
from gateway.audit.tables import audit_checkpoint, audit_patient, audit_record
from gateway.audit.verify import verify_lines
from gateway.metrics import AUDIT_APPEND_LATENCY, AUDIT_BATCH_SIZE, AUDIT_FAILURES, DECISIONS
from gateway.times import as_utc

# pg_advisory_xact_lock key: any constant unlikely to collide with other advisory locks.
_PG_LOCK_KEY = 0x6761_7564_6974  # "gaudit"


# Built once: an append binds values instead of building (and cache-keying) new statements.
_HEAD = sa.select(audit_record.c.seq, audit_record.c.hash).order_by(audit_record.c.seq.desc()).limit(1)
_PRUNE_START = (sa.select(audit_checkpoint.c.body).where(audit_checkpoint.c.kind == "prune")
                .order_by(audit_checkpoint.c.tree_size.desc()).limit(1))
_INSERT_RECORD = audit_record.insert()
_INSERT_PATIENTS = audit_patient.insert()


class _FileLock:
    """Serialise SQLite audit writers: threads by a mutex, processes by flock on ``<db>.audit-lock``
    (blocking, so a waiter runs as soon as the holder commits). A no-op lock for in-memory
    databases and where flock is unavailable."""

    def __init__(self, engine: Engine) -> None:
        self._mutex = threading.Lock()
        self._fd: int | None = None
        self._path: str | None = None
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        if database and database != ":memory:" and not database.startswith("file:"):
            self._path = database + ".audit-lock"

    def acquire(self) -> None:
        self._mutex.acquire()
        if self._path is None:
            return
        try:
            import fcntl  # POSIX only: where it is missing, SQLite's own lock serialises alone

            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except (ImportError, OSError):
            self._path = None  # no flock here (or the directory is read-only): SQLite's lock alone

    def release(self) -> None:
        try:
            if self._path is not None and self._fd is not None:
                import fcntl  # POSIX only (see acquire)

                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._mutex.release()


class _Pending:
    """One caller's record waiting in the group-commit queue: a thread blocked on ``done``, or (from
    ``append_async``) a coroutine awaiting ``future`` on its event loop."""
    __slots__ = ("record", "done", "lead", "entry", "error", "loop", "future")

    def __init__(self, record: Prepared, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.record = record
        self.done = threading.Event()
        self.lead = False  # set when woken to write the next batch rather than with a result
        self.entry: AuditEntry | None = None
        self.error: AuditWriteError | None = None
        self.loop = loop
        self.future: asyncio.Future[None] | None = loop.create_future() if loop is not None else None

    def wake(self) -> None:
        """The batch holding this record is committed (or failed)."""
        if self.future is not None and self.loop is not None:
            self.loop.call_soon_threadsafe(_resolve, self.future)
        else:
            self.done.set()

    def promote(self, log: AuditLog) -> None:
        """This record heads the queue: write the next batch (a coroutine has no thread to do it
        with, so one is started for it)."""
        if self.future is not None:
            threading.Thread(target=log._lead, name="audit-group-commit", daemon=True).start()
        else:
            self.lead = True
            self.done.set()

    def result(self) -> AuditEntry:
        if self.error is None and self.entry is None:  # the writer died mid-batch: nothing is known committed
            self.error = AuditWriteError("audit record not written: the batch writer stopped")
        if self.error is not None:
            AUDIT_FAILURES.inc()
            raise AuditWriteError(str(self.error)) from self.error  # one exception object per caller
        assert self.entry is not None
        return self.entry


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def entry_from_row(row: Any) -> AuditEntry:
    record = orjson.loads(row.body)
    return AuditEntry(seq=row.seq, time=as_utc(row.time), prev_hash=row.prev_hash, hash=row.hash,
                      record=record)


class AuditLog:
    def __init__(self, engine: Engine, signing_key: Ed25519PrivateKey | None = None,
                 checkpoint_every: int = 256, *, group_commit: bool = True, max_batch: int = 256) -> None:
        self.engine = engine
        self.signing_key = signing_key
        self.checkpoint_every = checkpoint_every
        self.group_commit = group_commit
        self.max_batch = max(1, max_batch)
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._writing = False  # a caller is writing a batch; later callers queue for the next one
        self._sqlite_lock = _FileLock(engine)

    # -- transactions -----------------------------------------------------------------------
    @contextmanager
    def _serialised(self, *, pg_lock: bool = True) -> Iterator[Connection]:
        """One writer at a time across processes; commits (durably) on success. ``pg_lock=False``:
        the caller takes the PostgreSQL lock itself (pg_append pipelines it with the insert)."""
        with self.engine.connect() as conn:
            dialect = conn.dialect.name
            if dialect == "postgresql":
                conn.execution_options(isolation_level="READ COMMITTED")  # see the lock holder's commit
                conn.begin()  # so that commit() below commits what the raw pipeline did
                if pg_lock:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            elif dialect == "sqlite":
                # Writers of other processes queue on a file lock that wakes them the moment it is
                # free; SQLite's own busy handler sleeps in steps of up to 100 ms instead.
                self._sqlite_lock.acquire()
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock before reading the head
                except BaseException:
                    self._sqlite_lock.release()
                    raise
            try:
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                if dialect == "sqlite":
                    self._sqlite_lock.release()

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """A read-only connection that sees one consistent state for all its queries."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            elif conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN")  # WAL: the first read fixes the snapshot
            try:
                yield conn
            finally:
                conn.rollback()

    @staticmethod
    def _head(conn: Connection) -> tuple[int, str]:
        row = conn.execute(_HEAD).first()
        if row is not None:
            return row.seq, row.hash
        start = conn.execute(_PRUNE_START).first()
        if start is not None:
            cp = orjson.loads(start.body)
            return cp["tree_size"], cp["last_hash"]
        return 0, GENESIS_HASH

    # -- append -------------------------------------------------------------------------------
    def append(self, record: dict[str, Any]) -> AuditEntry:
        """Chain, index and durably commit one record; AuditWriteError on any failure.

        Group commit: callers on other threads that arrive while a batch is being written queue
        up, and the next batch writes all of them in one transaction (one lock, one durable
        commit). Each call still returns only once its own record is committed; if the batch
        fails, every caller in it gets AuditWriteError."""
        started = time.perf_counter()
        try:
            pending = _Pending(self._prepare(record))
        except AuditWriteError:
            AUDIT_FAILURES.inc()
            raise
        if not self.group_commit:
            self._write_batch([pending])
        else:
            with self._queue_lock:
                self._queue.append(pending)
                lead = not self._writing
                self._writing = True
            if not lead:
                pending.done.wait()
                lead = pending.lead  # woken to write the next batch, not with a result
            if lead:
                self._lead()
        AUDIT_APPEND_LATENCY.observe(time.perf_counter() - started)
        return pending.result()

    async def append_async(self, record: dict[str, Any]) -> AuditEntry:
        """``append`` for coroutines: the same queue and batches, but waiting for the commit does
        not hold a thread (the batch is written on a thread of its own). Returns once the record is
        committed; AuditWriteError as ``append``."""
        started = time.perf_counter()
        try:
            pending = _Pending(self._prepare(record), asyncio.get_running_loop())
        except AuditWriteError:
            AUDIT_FAILURES.inc()
            raise
        with self._queue_lock:
            self._queue.append(pending)
            lead = not self._writing
            self._writing = True
        if lead:
            pending.promote(self)
        assert pending.future is not None
        await asyncio.shield(pending.future)  # a cancelled caller must not cancel the batch's commit
        AUDIT_APPEND_LATENCY.observe(time.perf_counter() - started)
        return pending.result()

    def _lead(self) -> None:
        """Write what is queued (at most max_batch), then hand the lead to the first record that
        queued meanwhile, so that this caller returns as soon as its own batch is durable."""
        with self._queue_lock:
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
        try:
            self._write_batch(batch)
        finally:
            with self._queue_lock:
                if self._queue:
                    self._queue[0].promote(self)
                else:
                    self._writing = False
            for item in batch:
                item.wake()

    def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            with self._serialised(pg_lock=False) as conn:
                entries = self._append_batch_locked(conn, [p.record for p in batch])
        except Exception as exc:  # fail closed: every caller of the batch answers 503
            error = exc if isinstance(exc, AuditWriteError) else AuditWriteError(f"audit record not written: {exc}")
            for item in batch:
                item.error = error
            return
        AUDIT_BATCH_SIZE.observe(len(batch))
        for item, entry in zip(batch, entries):
            item.entry = entry
            for effect, items in (entry.record.get("items") or {}).items():
                if items:
                    DECISIONS.inc(str(effect), amount=len(items))

    @staticmethod
    def _prepare(record: dict[str, Any]) -> Prepared:
        return Prepared.of(record)

    def _append_locked(self, conn: Connection, record: dict[str, Any]) -> AuditEntry:
        return self._append_batch_locked(conn, [self._prepare(record)])[0]

    def _append_batch_locked(self, conn: Connection, records: list[Prepared]) -> list[AuditEntry]:
        """Extend the chain by ``records`` inside the caller's serialised transaction."""
        postgres = conn.dialect.name == "postgresql"
        done = pg_append.append(conn, _PG_LOCK_KEY, records) if postgres else None
        if done is not None:
            entries = self._checked(records, done)
        else:
            if postgres:  # portable path: the lock is not held yet
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            entries = self._chained_here(conn, records)
        return self._checkpointed(conn, entries)

    def _checked(self, records: list[Prepared], done: list[tuple[int, str, str]]) -> list[AuditEntry]:
        """Records the database chained: each link checked against our own bytes."""
        entries: list[AuditEntry] = []
        for item, (seq, prev_hash, digest) in zip(records, done, strict=True):
            if (entries and prev_hash != entries[-1].hash) or link(prev_hash, item.body(seq)) != digest:
                raise AuditWriteError(f"record {seq}: database and gateway disagree on its hash")
            entries.append(self._entry(item, seq, prev_hash, digest))
        return entries

    def _chained_here(self, conn: Connection, records: list[Prepared]) -> list[AuditEntry]:
        """Records chained and hashed by the gateway, then inserted (SQLite; PostgreSQL's portable path)."""
        seq, prev_hash = self._head(conn)
        entries: list[AuditEntry] = []
        rows, patients = [], []
        for item in records:
            seq += 1
            body = item.body(seq)
            digest = link(prev_hash, body)
            rows.append({"seq": seq, "prev_hash": prev_hash, "hash": digest, "body": body.decode(), **item.index})
            patients.extend(item.patient_rows(seq))
            entries.append(self._entry(item, seq, prev_hash, digest))
            prev_hash = digest
        conn.execute(_INSERT_RECORD, rows)
        if patients:
            conn.execute(_INSERT_PATIENTS, patients)
        return entries

    @staticmethod
    def _entry(item: Prepared, seq: int, prev_hash: str, digest: str) -> AuditEntry:
        return AuditEntry(seq=seq, time=item.index["time"], prev_hash=prev_hash, hash=digest, record=item.entry(seq))

    def _checkpointed(self, conn: Connection, entries: list[AuditEntry]) -> list[AuditEntry]:
        if self.signing_key is not None and self.checkpoint_every > 0:
            for entry in entries:  # a periodic checkpoint at every multiple, as if appended one by one
                if entry.seq % self.checkpoint_every == 0:
                    self._checkpoint_locked(conn, "periodic", upto=entry.seq)
        return entries

    # -- checkpoints -----------------------------------------------------------------------------
    def _key(self) -> Ed25519PrivateKey:
        if self.signing_key is None:
            raise RuntimeError("AuditLog has no signing key: checkpoints cannot be signed")
        return self.signing_key

    def checkpoint(self) -> Checkpoint:
        """Sign the Merkle root of every record so far."""
        self._key()
        with self._serialised() as conn:
            return self._checkpoint_locked(conn, "manual")[0]

    def _checkpoint_locked(self, conn: Connection, kind: str, upto: int | None = None) -> tuple[Checkpoint, int]:
        key = self._key()
        size, last_hash = self._head(conn)
        if upto is not None:
            size = upto
        # Grow the frontier of the newest earlier checkpoint by the leaves since: O(interval).
        base = conn.execute(sa.select(audit_checkpoint.c.body).where(audit_checkpoint.c.tree_size <= size)
                            .order_by(audit_checkpoint.c.tree_size.desc(), audit_checkpoint.c.id.desc())
                            .limit(1)).first()
        if base is not None:
            cp = orjson.loads(base.body)
            frontier = Frontier(cp["tree_size"], [bytes.fromhex(h) for h in cp["frontier"]])
            last_hash = cp["last_hash"]
        else:
            frontier, last_hash = Frontier(), GENESIS_HASH
        for (digest,) in conn.execute(sa.select(audit_record.c.hash)
                                      .where(audit_record.c.seq > frontier.size, audit_record.c.seq <= size)
                                      .order_by(audit_record.c.seq)):
            frontier.append(digest)
            last_hash = digest
        if frontier.size != size:
            raise RuntimeError(f"audit chain has a gap: frontier reached {frontier.size}, expected {size}")
        signed = sign({"kind": kind, "tree_size": size, "root": frontier.root().hex(),
                       "last_hash": last_hash, "frontier": [h.hex() for h in frontier.hashes],
                       "time": now_iso()}, key)
        result = conn.execute(audit_checkpoint.insert().values(
            tree_size=size, kind=kind, root=signed["root"], body=canonical(signed).decode()))
        key_row = result.inserted_primary_key
        if key_row is None:
            raise RuntimeError("the database did not return the checkpoint id")
        return Checkpoint.from_dict(signed), int(key_row[0])

    @staticmethod
    def checkpoints(conn: Connection) -> list[dict[str, Any]]:
        query = sa.select(audit_checkpoint.c.body).order_by(audit_checkpoint.c.tree_size, audit_checkpoint.c.id)
        return [orjson.loads(row.body) for row in conn.execute(query)]

    # -- verification ----------------------------------------------------------------------------
    @staticmethod
    def _line(row: Any) -> dict[str, Any]:
        line: dict[str, Any] = orjson.loads(row.body)
        line["seq"] = row.seq  # a seq column edited apart from the body breaks the hash
        line["prev_hash"], line["hash"] = row.prev_hash, row.hash
        return line

    def _lines(self, conn: Connection, upto: int | None = None) -> Iterator[dict[str, Any]]:
        query = sa.select(audit_record.c.seq, audit_record.c.prev_hash, audit_record.c.hash,
                          audit_record.c.body).order_by(audit_record.c.seq)
        if upto is not None:
            query = query.where(audit_record.c.seq <= upto)
        for row in conn.execution_options(yield_per=2000).execute(query):
            yield self._line(row)

    def verify(self, previous: Path | str | None = None) -> Verification:
        """Check the live chain, every stored checkpoint (signatures need the signing key) and that
        the search index agrees with the hashed records; with ``previous`` (an auditor's earlier
        export), also that the log still extends it."""
        result = self._verify_live()
        if not result.ok or previous is None:
            return result
        with self._snapshot() as conn:
            head, _ = self._head(conn)
            first = conn.execute(sa.select(sa.func.min(audit_record.c.seq))).scalar() or head + 1
            hashes = conn.execution_options(yield_per=5000).execute(
                sa.select(audit_record.c.seq, audit_record.c.hash).order_by(audit_record.c.seq))
            broken = check_continuity(previous, ((r.seq, r.hash) for r in hashes), self.public_key_pem(), first)
        return broken or Verification(True, result.checked, None, f"{result.reason}; extends {previous}")

    def _verify_live(self) -> Verification:
        public = self.signing_key.public_key() if self.signing_key is not None else None
        with self._snapshot() as conn:
            checkpoints = self.checkpoints(conn)
            streaming = conn.execution_options(yield_per=2000)
            # Records first: the patient rows, read after, are then a superset of theirs.
            rows = streaming.execute(sa.select(audit_record).order_by(audit_record.c.seq))
            patients = streaming.execute(sa.select(audit_patient)
                                         .order_by(audit_patient.c.seq, audit_patient.c.position))
            index = IndexCheck(iter(patients))
            current: list[Any] = [None]

            def lines() -> Iterator[dict[str, Any]]:
                for row in rows:
                    current[0] = row
                    yield self._line(row)

            def check(line: dict[str, Any]) -> str | None:
                return index.mismatch(current[0], {k: v for k, v in line.items()
                                                   if k not in ("seq", "prev_hash", "hash")})

            result = verify_lines(lines(), checkpoints, public, require_final_checkpoint=False, extra_check=check)
            queue = index.finish() if result.ok else None
            return result if queue is None else Verification(False, result.checked, queue[0], queue[1])

    # -- export & proofs ---------------------------------------------------------------------------
    def public_key_pem(self) -> bytes:
        return public_key_pem(self._key())

    def export(self, out_dir: Path | str) -> ExportSummary:
        """records.jsonl + checkpoints.jsonl (ending with a fresh export checkpoint) + public_key.pem."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self._key()
        files = [out_dir / "records.jsonl", out_dir / "checkpoints.jsonl", out_dir / "public_key.pem"]
        for _ in range(3):
            with self._serialised() as conn:
                cp, cp_id = self._checkpoint_locked(conn, "export")
            # Appends go on meanwhile; read one snapshot and keep to what the export checkpoint covers.
            with self._snapshot() as conn:
                rows = conn.execute(sa.select(audit_checkpoint.c.id, audit_checkpoint.c.body)).all()
                # Prune checkpoints are kept whenever made: they say where the remaining records start.
                chosen = sorted(((orjson.loads(r.body), r.id) for r in rows
                                 if r.id <= cp_id or orjson.loads(r.body)["kind"] == "prune"),
                                key=lambda c: (c[0]["tree_size"], c[1] == cp_id, c[1]))
                if any(c["tree_size"] > cp.tree_size for c, _ in chosen):
                    continue  # pruned past the export point meanwhile: take a new checkpoint
                count = 0
                with files[0].open("wb") as handle:
                    for line in self._lines(conn, upto=cp.tree_size):
                        handle.write(orjson.dumps(line) + b"\n")
                        count += 1
            files[1].write_bytes(b"".join(orjson.dumps(c) + b"\n" for c, _ in chosen))
            files[2].write_bytes(self.public_key_pem())
            return ExportSummary(out_dir=out_dir, records=count, checkpoints=len(chosen),
                                 tree_size=cp.tree_size, root=cp.root, files=files)
        raise RuntimeError("the log kept being pruned during the export; try again")

    def prove(self, seq: int) -> dict[str, Any]:
        """Inclusion proof of record ``seq`` in a signed checkpoint (see verify_proof)."""
        self._key()
        latest_query = (sa.select(audit_checkpoint.c.body, audit_checkpoint.c.tree_size)
                        .order_by(audit_checkpoint.c.tree_size.desc(), audit_checkpoint.c.id.desc()).limit(1))
        with self.engine.connect() as conn:
            latest = conn.execute(latest_query).first()
        if latest is not None and latest.tree_size >= seq:
            cp = orjson.loads(latest.body)
        else:  # not covered yet: sign a checkpoint (under the append lock, so it is the true head)
            with self._serialised() as conn:
                cp = self._checkpoint_locked(conn, "proof")[0].as_dict()
        size = cp["tree_size"]
        if not 1 <= seq <= size:
            raise LookupError(f"no audit record {seq}")
        with self._snapshot() as conn:  # leaves and prune start from one state
            start = conn.execute(sa.select(audit_checkpoint.c.body).where(audit_checkpoint.c.kind == "prune")
                                 .order_by(audit_checkpoint.c.tree_size.desc()).limit(1)).first()
            blocks: dict[tuple[int, int], bytes] = {}
            base = 0
            if start is not None:
                prune_cp = orjson.loads(start.body)
                frontier = Frontier(prune_cp["tree_size"], [bytes.fromhex(h) for h in prune_cp["frontier"]])
                blocks, base = frontier.blocks(), frontier.size
            if seq <= base:
                raise LookupError(f"audit record {seq} was pruned")
            leaves = [leaf_hash(h) for (h,) in conn.execute(
                sa.select(audit_record.c.hash).where(audit_record.c.seq <= size).order_by(audit_record.c.seq))]
            row = conn.execute(sa.select(audit_record).where(audit_record.c.seq == seq)).first()
        if row is None:
            raise LookupError(f"no audit record {seq}")
        entry = entry_from_row(row)
        path = Tree(leaves, base=base, blocks=blocks).audit_path(seq - 1, size)
        return {"leaf_index": seq - 1, "tree_size": size, "record": entry.line(),
                "audit_path": [p.hex() for p in path], "checkpoint": cp}

    # -- search & review ---------------------------------------------------------------------------
    def search(self, *, nhs_number: str | None = None, patient_id: str | None = None, user: str | None = None,
               org: str | None = None, role: str | None = None, purpose: str | None = None,
               outcome: str | None = None, category: str | None = None, since: datetime | str | None = None,
               until: datetime | str | None = None, offset: int = 0, limit: int | None = 100) -> list[AuditEntry]:
        """Records matching every given filter, in sequence order (``until`` exclusive; limit None: all)."""
        query = search_mod.query(nhs_number=nhs_number, patient_id=patient_id, user=user, org=org, role=role,
                                 purpose=purpose, outcome=outcome, category=category, since=since, until=until,
                                 offset=offset, limit=limit)
        with self.engine.connect() as conn:
            return [entry_from_row(r) for r in conn.execute(query)]

    def iter_entries(self, **filters: Any) -> Iterator[AuditEntry]:
        """Like ``search`` with no limit by default, streamed (for exports and reports)."""
        filters.setdefault("limit", None)
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=1000).execute(search_mod.query(**filters)):
                yield entry_from_row(row)

    def entry(self, seq: int) -> AuditEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(audit_record).where(audit_record.c.seq == seq)).first()
        return entry_from_row(row) if row is not None else None

    def review_queue(self) -> list[AuditEntry]:
        query = (sa.select(audit_record).where(audit_record.c.needs_review.is_(True),
                                               audit_record.c.reviewed_by_seq.is_(None))
                 .order_by(audit_record.c.seq))
        with self.engine.connect() as conn:
            return [entry_from_row(r) for r in conn.execute(query)]

    def mark_reviewed(self, seq: int, reviewer: str, comment: str) -> AuditEntry:
        """Append the review as its own audit record and take ``seq`` off the queue."""
        try:
            with self._serialised() as conn:
                target = conn.execute(sa.select(audit_record.c.needs_review, audit_record.c.reviewed_by_seq)
                                      .where(audit_record.c.seq == seq)).first()
                if target is None or not target.needs_review:
                    raise LookupError(f"audit record {seq} is not awaiting review")
                if target.reviewed_by_seq is not None:
                    raise LookupError(f"audit record {seq} was already reviewed (record {target.reviewed_by_seq})")
                review = self._append_locked(conn, {
                    "type": "review", "reviewed_seq": seq, "comment": comment,
                    "requester": {"user": reviewer, "role": "auditor"}, "outcome": "reviewed"})
                conn.execute(audit_record.update().where(audit_record.c.seq == seq)
                             .values(reviewed_by_seq=review.seq))
                return review
        except LookupError:
            raise
        except AuditWriteError:
            raise
        except Exception as exc:
            raise AuditWriteError(f"review not recorded: {exc}") from exc

    # -- retention ---------------------------------------------------------------------------------
    def prune(self, before: datetime) -> int:
        """Delete the oldest records older than ``before``; a signed *prune* checkpoint (hash of
        the last pruned record, tree size, root and frontier) becomes the verified start."""
        self._key()
        before = as_utc(before)
        with self._serialised() as conn:
            head, _ = self._head(conn)
            first_kept = conn.execute(sa.select(sa.func.min(audit_record.c.seq))
                                      .where(audit_record.c.time >= before)).scalar()
            upto = head if first_kept is None else first_kept - 1
            oldest = conn.execute(sa.select(sa.func.min(audit_record.c.seq))).scalar()
            if oldest is None or upto < oldest:
                return 0
            self._checkpoint_locked(conn, "prune", upto=upto)
            conn.execute(audit_patient.delete().where(audit_patient.c.seq <= upto))
            conn.execute(audit_record.delete().where(audit_record.c.seq <= upto))
            conn.execute(audit_checkpoint.delete().where(audit_checkpoint.c.tree_size < upto))
            return int(upto - oldest + 1)
