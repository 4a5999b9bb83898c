"""Audit benchmark: appends/s of the full AuditLog.append (serialised, hash-chained, indexed, durably
committed, signed checkpoint every N) vs. a plain durable insert of the same rows, same run.

Part 1, one writer: audit/plain ratio, target ≥ 0.5 on SQLite and PostgreSQL.
Part 2, group commit: audited disclosures/s with 1, 16 and 64 concurrent writers (threads of one
gateway process, as the API's request threads are) against the plain durable insert one at a
time, same run: target ≥ 10x at 64 writers. The plain insert with as many writers (each its own
commit) and the audit log with group commit off are printed beside it, to show what sharing the
commit buys.
Run: .venv/bin/python -m bench.audit [--records 2000] [--rounds 3] [--checkpoint-every 256]
     [--postgres URL]   (default: $GATEWAY_TEST_POSTGRES_URL; a private schema is created and dropped)
     [--concurrency 1,16,64] [--seconds 3]
A PostgreSQL server started with fsync=off (scripts/postgres does, for tests) makes every
commit cheap and hides what group commit is for: benchmark against a durable server.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine

from gateway.audit import AuditLog
from gateway.audit.canonical import canonical, normalise
from gateway.audit.indexing import index_row, now_iso, patient_rows
from gateway.audit.tables import audit_checkpoint, audit_patient, audit_record
from gateway.store.database import make_engine

plain_meta = sa.MetaData()


def _copy(table: sa.Table, name: str) -> sa.Table:
    """Same columns and indexes (renamed), no foreign keys: the cost of storing the row, nothing more."""
    copy = sa.Table(name, plain_meta, *(sa.Column(c.name, c.type, primary_key=c.primary_key, index=c.index,
                                                  autoincrement=False) for c in table.columns))
    for index in table.indexes:
        if len(index.columns) > 1:  # single-column ones came with index=True above
            sa.Index(str(index.name).replace(table.name, name), *(copy.c[c.name] for c in index.columns))
    return copy


plain_record = _copy(audit_record, "bench_plain_record")
plain_patient = _copy(audit_patient, "bench_plain_patient")
AUDIT_TABLES = [audit_record, audit_patient, audit_checkpoint]


def record(i: int) -> dict[str, Any]:
    """A realistic $everything disclosure: one patient, a dozen items, rule ids, categories."""
    return {
        "request_id": uuid.uuid4().hex,
        "requester": {"user": f"55566677{i % 50:04d}", "name": "Nurse Example", "role": "district_nurse",
                      "org": "RX1", "team": "DN-ANC"},
        "purpose": "direct_care", "justification": None, "client": "district-nursing-app",
        "interaction": "Patient/$everything", "patients": [{"id": f"pat-{i % 500}", "nhs_number": "9434765919"}],
        "items": {"released": [{"ref": f"Condition/c{i}-{k}", "rule_ids": ["dn-clinical"],
                                "categories": ["clinical"]} for k in range(8)],
                  "redacted": [{"ref": f"Observation/o{i}", "fields": ["note"], "rule_ids": ["dn-redact"],
                                "categories": ["social"]}],
                  "noticed": [{"ref": f"Flag/s42-{i}", "rule_ids": ["safeguarding-notice"],
                               "categories": ["safeguarding"]}],
                  "hidden": []},
        "categories": ["clinical", "social", "safeguarding"], "relationship": True,
        "policy_version": "sha256:" + "ab" * 32, "outcome": "disclosed", "status": 200,
        "obligations": [],
    }


_PLAIN_PG = sa.text("""
WITH ins AS (
    INSERT INTO bench_plain_record (seq, time, request_id, user_id, org, role, purpose, outcome, categories,
                                    needs_review, prev_hash, hash, body)
    VALUES (:seq, :time, :request_id, :user_id, :org, :role, :purpose, :outcome, :categories, :needs_review,
            :prev_hash, :hash, :body)
    RETURNING seq)
INSERT INTO bench_plain_patient (seq, position, patient_id, nhs_number)
SELECT ins.seq, p.position, p.patient_id, p.nhs_number
FROM ins, jsonb_to_recordset(CAST(:patients AS jsonb)) AS p(position int, patient_id text, nhs_number text)
""")


def plain_insert(engine: Engine) -> Callable[[dict[str, Any]], None]:
    """The baseline: the same row and patient rows, serialised to JSON, one committed transaction
    each, keyed by a counter — as cheap as storing it durably gets (one statement on PostgreSQL)."""
    counter = iter(range(10**12, 2 * 10**12))
    postgres = engine.dialect.name == "postgresql"

    def insert(rec: dict[str, Any]) -> None:
        rec = normalise(rec)
        rec.setdefault("time", now_iso())
        seq = next(counter)
        row = {"seq": seq, "prev_hash": "0" * 64, "hash": "0" * 64, "body": canonical(rec).decode(), **index_row(rec)}
        with engine.connect() as conn:
            if postgres:
                conn.execute(_PLAIN_PG, row | {"patients": orjson.dumps(patient_rows(seq, rec)).decode()})
            else:
                conn.execute(plain_record.insert().values(row))
                conn.execute(plain_patient.insert(), patient_rows(seq, rec))
            conn.commit()
    return insert


def rate(append: Callable[[dict[str, Any]], Any], records: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    for rec in records:
        append(rec)
    return len(records) / (time.perf_counter() - start)


def measure(engine: Engine, n: int, rounds: int, every: int) -> tuple[float, float, float]:
    plain_meta.create_all(engine)
    AUDIT_TABLES[0].metadata.create_all(engine, tables=AUDIT_TABLES)
    log = AuditLog(engine, Ed25519PrivateKey.generate(), checkpoint_every=every)
    baseline, audited = plain_insert(engine), log.append
    for _ in range(20):  # warm the pool and caches
        baseline(record(0))
        audited(record(0))
    plain_rates, audit_rates = [], []
    for r in range(rounds):  # alternate, so that drift in the machine hits both alike
        batch = [record(r * n + i) for i in range(n)]
        plain_rates.append(rate(baseline, batch))
        audit_rates.append(rate(audited, batch))
    start = time.perf_counter()
    result = log.verify()
    if not result.ok:
        raise SystemExit(f"chain broken: {result.reason}")
    verify_rate = result.checked / (time.perf_counter() - start)
    return statistics.median(plain_rates), statistics.median(audit_rates), verify_rate


WRITER = """
import sys, time
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from bench.audit import record
from gateway.audit import AuditLog
from gateway.store.database import make_engine
url, schema, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
engine = (sa.create_engine(url, connect_args={"options": f"-csearch_path={schema}"}) if schema
          else make_engine(url))
log = AuditLog(engine, Ed25519PrivateKey.generate(), checkpoint_every=256)
log.append(record(0))  # connect before the start line
while not __import__("os").path.exists(go):
    time.sleep(0.001)
for i in range(n):
    log.append(record(i))
"""


def threaded_rate(append: Callable[[dict[str, Any]], Any], writers: int, seconds: float) -> float:
    """Aggregate records/s of ``writers`` threads calling ``append`` for ``seconds``."""
    import threading

    start_line = threading.Barrier(writers + 1)
    stop = threading.Event()
    counts = [0] * writers

    def writer(w: int) -> None:
        start_line.wait()
        i = 0
        while not stop.is_set():
            append(record(w * 10**6 + i))
            i += 1
        counts[w] = i

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    start_line.wait()
    begun = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - begun)


def measure_group(engine: Engine, levels: list[int], seconds: float, every: int) -> dict[str, Any]:
    """Part 2: the one-at-a-time plain insert, then each concurrency level for plain, audit and
    audit without group commit — interleaved, so machine drift hits all alike."""
    plain_meta.create_all(engine)
    AUDIT_TABLES[0].metadata.create_all(engine, tables=AUDIT_TABLES)
    key = Ed25519PrivateKey.generate()
    grouped = AuditLog(engine, key, checkpoint_every=every)
    single = AuditLog(engine, key, checkpoint_every=every, group_commit=False)
    plain = plain_insert(engine)
    engine.pool.dispose()
    for _ in range(20):
        plain(record(0))
        grouped.append(record(0))
    from gateway.metrics import AUDIT_BATCH_SIZE
    # The baseline is sampled before every level and the best sample kept: drift (other load on
    # the machine) can then only make the ratio look worse, never better.
    samples: list[float] = []
    out: dict[str, Any] = {"levels": {}}
    for n in levels:
        samples.append(threaded_rate(plain, 1, seconds))
        batches, before = AUDIT_BATCH_SIZE.count(), AUDIT_BATCH_SIZE._values.get((), [None, 0.0, 0])[1]
        audit = threaded_rate(grouped.append, n, seconds)
        recs = AUDIT_BATCH_SIZE._values.get((), [None, 0.0, 0])[1] - before
        mean_batch = recs / max(1, AUDIT_BATCH_SIZE.count() - batches)
        out["levels"][n] = {"plain": threaded_rate(plain, n, seconds), "audit": audit, "batch": mean_batch,
                            "no_group": threaded_rate(single.append, n, seconds) if n > 1 else audit}
    out["baseline"] = max(samples)
    # Where the time goes: one thread writing batches directly (no queueing, no other threads).
    prepared = [AuditLog._prepare(record(i)) for i in range(512)]
    for size in (1, 64):
        count = 128 if size == 1 else 512
        begun = time.perf_counter()
        for i in range(0, count, size):
            with grouped._serialised(pg_lock=False) as conn:
                grouped._append_batch_locked(conn, prepared[i:i + size])
        out[f"us_batch{size}"] = (time.perf_counter() - begun) / count * 1e6
    result = grouped.verify()
    if not result.ok:
        raise SystemExit(f"chain broken: {result.reason}")
    return out


def concurrent_rate(url: str, schema: str, writers: int, n: int, tmp: Path) -> float:
    """Aggregate appends/s of ``writers`` processes appending to one chain at once."""
    import subprocess
    import sys

    go = tmp / f"go-{uuid.uuid4().hex}"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, schema, str(n), str(go)])
             for _ in range(writers)]
    time.sleep(2.0)
    start = time.perf_counter()
    go.touch()
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit("a writer failed")
    return writers * n / (time.perf_counter() - start)


@contextmanager
def postgres_schema(url: str, **kwargs: Any) -> Iterator[Engine]:
    schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={schema}"}, **kwargs)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


Result = tuple[str, float, float, float, float | None]
Group = tuple[str, dict[str, Any]]


def measure_sqlite(args: argparse.Namespace, levels: list[int], tmp: Path) -> tuple[list[Result], list[Group]]:
    # The gateway's own SQLite engine: WAL + synchronous=FULL, so every commit is durable.
    results: list[Result] = []
    groups: list[Group] = []
    url = f"sqlite:///{tmp / 'bench.sqlite'}"
    pool = {"pool_size": max(levels, default=1) + 2, "max_overflow": 8}
    engine = make_engine(url, **pool)
    if not args.skip_single:
        row = measure(engine, args.records, args.rounds, args.checkpoint_every)
        together = (concurrent_rate(url, "", args.writers, args.records // args.writers, tmp)
                    if args.writers else None)
        results.append(("sqlite", *row, together))
    engine.dispose()
    if levels:
        engine = make_engine(f"sqlite:///{tmp / 'group.sqlite'}", **pool)
        groups.append(("sqlite", measure_group(engine, levels, args.seconds, args.checkpoint_every)))
        engine.dispose()
    return results, groups


def measure_postgres(args: argparse.Namespace, levels: list[int], tmp: Path) -> tuple[list[Result], list[Group]]:
    results: list[Result] = []
    groups: list[Group] = []
    pool = {"pool_size": max(levels, default=1) + 2, "max_overflow": 8}
    if not args.skip_single:
        with postgres_schema(args.postgres, **pool) as engine:
            row = measure(engine, args.records, args.rounds, args.checkpoint_every)
            with engine.connect() as conn:
                schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
                fsync = conn.execute(sa.text("SHOW fsync")).scalar_one()
            together = (concurrent_rate(args.postgres, schema, args.writers, args.records // args.writers, tmp)
                        if args.writers else None)
            results.append((f"postgresql (fsync={fsync})", *row, together))
    if levels:
        with postgres_schema(args.postgres, **pool) as engine:
            with engine.connect() as conn:
                fsync = conn.execute(sa.text("SHOW fsync")).scalar_one()
            groups.append((f"postgresql (fsync={fsync})",
                           measure_group(engine, levels, args.seconds, args.checkpoint_every)))
    return results, groups


def print_groups(groups: list[Group], seconds: float, levels: list[int]) -> None:
    print(f"group commit: audited disclosures/s with N concurrent writer threads, {seconds:g} s each, vs the "
          f"plain durable insert one at a time (same run); target ≥ 10x at {max(levels)} writers")
    for backend, g in groups:
        base = g["baseline"]
        print(f"{backend}: plain durable insert, 1 writer = {base:.0f}/s (best of {len(levels)} samples)")
        print(f"  {'writers':>8}{'audit/s':>10}{'x plain 1':>11}{'mean batch':>12}{'plain/s':>10}"
              f"{'audit/s, no group commit':>26}")
        for n, v in g["levels"].items():
            print(f"  {n:>8}{v['audit']:>10.0f}{v['audit'] / base:>11.1f}{v['batch']:>12.1f}{v['plain']:>10.0f}"
                  f"{v['no_group']:>26.0f}")
        top = g["levels"][max(levels)]
        ratio = top["audit"] / base
        print(f"  at {max(levels)} writers: {ratio:.1f}x the one-at-a-time rate: "
              f"{'met' if ratio >= 10 else 'MISSED'} (target ≥ 10x); "
              f"{top['audit'] / top['plain']:.1f}x the plain insert committing each row with as many writers")
        ceiling = g["us_batch1"] / g["us_batch64"]
        print(f"  where the time goes (one thread, no queueing): a record in its own transaction "
              f"{g['us_batch1']:.0f} us, in a batch of 64 {g['us_batch64']:.0f} us/record — batching removes the "
              f"per-transaction cost (lock, round trips, durable commit) and leaves per-record CPU (canonical "
              f"JSON, hash, index rows, the database's inserts): on this machine the gain is bounded near "
              f"{ceiling:.1f}x")


def print_results(results: list[Result], args: argparse.Namespace) -> None:
    print(f"audit append vs plain durable insert: {args.records} records x {args.rounds} rounds (median), "
          f"checkpoint every {args.checkpoint_every}, one process")
    print(f"{'backend':<12}{'plain/s':>10}{'audit/s':>10}{'ratio':>8}  {'target ≥ 0.5':<14}"
          f"{'verify/s':>10}{f'audit/s x{args.writers} procs':>24}")
    for backend, plain, audited, verify_rate, together in results:
        ratio = audited / plain
        print(f"{backend:<12}{plain:>10.0f}{audited:>10.0f}{ratio:>8.2f}  {'met' if ratio >= 0.5 else 'MISSED':<14}"
              f"{verify_rate:>10.0f}{'-' if together is None else f'{together:.0f}':>24}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checkpoint-every", type=int, default=256)
    parser.add_argument("--postgres", default=os.environ.get("GATEWAY_TEST_POSTGRES_URL"))
    parser.add_argument("--writers", type=int, default=4, help="processes for the concurrent run (0: skip)")
    parser.add_argument("--concurrency", default="1,16,64", help="writer threads for the group-commit part ('': skip)")
    parser.add_argument("--seconds", type=float, default=3.0, help="per group-commit measurement")
    parser.add_argument("--skip-single", action="store_true", help="only the group-commit part")
    args = parser.parse_args()
    levels = [int(n) for n in args.concurrency.split(",") if n.strip()]
    with tempfile.TemporaryDirectory() as tmp_name:
        results, groups = measure_sqlite(args, levels, Path(tmp_name))
        if args.postgres:
            more, more_groups = measure_postgres(args, levels, Path(tmp_name))
            results, groups = results + more, groups + more_groups
    if groups:
        print_groups(groups, args.seconds, levels)
    if results:
        print_results(results, args)


if __name__ == "__main__":
    main()
