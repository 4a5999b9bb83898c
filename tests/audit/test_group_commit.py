"""Group commit: concurrent appends share transactions and durable commits, each caller still gets
its own committed entry, the chain and the periodic checkpoints are what one-by-one appends give,
and a failed batch fails every caller in it (fail closed)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.audit import AuditLog, AuditWriteError
from gateway.audit.tables import audit_checkpoint, audit_record
from gateway.metrics import AUDIT_BATCH_SIZE

WRITERS, PER_WRITER = 32, 8


def _hammer(log: AuditLog, make: Any) -> list[Any]:
    start = threading.Barrier(WRITERS)

    def writer(w: int) -> list[Any]:
        start.wait()
        return [log.append(make(user=f"u{w}", patient_id=f"pat-{w}-{i}")) for i in range(PER_WRITER)]

    with ThreadPoolExecutor(WRITERS) as pool:
        return [e for batch in pool.map(writer, range(WRITERS)) for e in batch]


def test_concurrent_appends_share_commits_and_keep_one_chain(log: AuditLog, make: Any) -> None:
    batches_before = AUDIT_BATCH_SIZE.count()
    entries = _hammer(log, make)
    total = WRITERS * PER_WRITER
    assert sorted(e.seq for e in entries) == list(range(1, total + 1))
    batches = AUDIT_BATCH_SIZE.count() - batches_before
    assert batches < total  # some commits carried more than one record
    result = log.verify()
    assert result.ok, result.reason
    assert result.checked == total
    with log.engine.connect() as conn:
        rows = {r.seq: r for r in conn.execute(sa.select(audit_record.c.seq, audit_record.c.hash,
                                                         audit_record.c.user_id))}
        sizes = sorted(r.tree_size for r in conn.execute(sa.select(audit_checkpoint.c.tree_size)))
    for entry in entries:  # what each caller was handed is what was committed under its seq
        assert rows[entry.seq].hash == entry.hash
        assert rows[entry.seq].user_id == entry.record["requester"]["user"]
    # checkpoint_every=4: one periodic checkpoint at every multiple of 4, however batches fell
    assert sizes == list(range(4, total + 1, 4))


def test_a_failed_batch_fails_every_caller_in_it(engine: Engine, key: Any, make: Any) -> None:
    log = AuditLog(engine, key, checkpoint_every=4)
    log.append(make())
    writing, release = threading.Event(), threading.Event()
    real = log._append_batch_locked
    calls: list[int] = []

    def slow_then_broken(conn: Any, records: list[dict[str, Any]]) -> Any:
        calls.append(len(records))
        if len(calls) == 1:  # the first batch holds the lead while the others queue, then succeeds
            writing.set()
            release.wait(10)
            return real(conn, records)
        raise RuntimeError("disk full")

    log._append_batch_locked = slow_then_broken  # type: ignore[method-assign]
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(log.append, make(user="first"))
        assert writing.wait(10)
        queued = [pool.submit(log.append, make(user=f"queued{i}")) for i in range(5)]
        while len(log._queue) < 5:
            threading.Event().wait(0.005)
        release.set()
        assert first.result(10).seq == 2
        for future in queued:
            with pytest.raises(AuditWriteError, match="disk full"):
                future.result(10)
    assert calls == [1, 5]  # the five queued callers shared one (failed) batch
    log._append_batch_locked = real  # type: ignore[method-assign]
    assert log.append(make()).seq == 3  # nothing of the failed batch was committed
    assert log.verify().ok


def test_group_commit_can_be_switched_off(engine: Engine, key: Any, make: Any) -> None:
    log = AuditLog(engine, key, checkpoint_every=4, group_commit=False)
    entries = _hammer(log, make)
    assert sorted(e.seq for e in entries) == list(range(1, WRITERS * PER_WRITER + 1))
    assert log.verify().ok


async def test_async_appends_share_batches_with_threads_and_wait_for_their_commit(log: AuditLog, make: Any) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    threaded = [loop.run_in_executor(None, log.append, make(user=f"thread{i}")) for i in range(8)]
    coroutines = [log.append_async(make(user=f"async{i}")) for i in range(40)]
    entries = await asyncio.gather(*coroutines, *threaded)
    assert sorted(e.seq for e in entries) == list(range(1, 49))
    with log.engine.connect() as conn:
        stored = dict(conn.execute(sa.select(audit_record.c.seq, audit_record.c.hash)).all())
    assert all(stored[e.seq] == e.hash for e in entries)  # each was committed when its await returned
    assert log.verify().ok
    with pytest.raises(AuditWriteError):
        await log.append_async({"seq": 1})  # reserved keys are refused before queueing
