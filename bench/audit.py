"""Audit benchmark: appends/s of the full AuditLog.append (serialised, hash-chained, indexed, durably
committed, signed checkpoint every N) vs. a plain durable insert of the same rows, same run.

Target: audit/plain ratio ≥ 0.5 on SQLite and PostgreSQL.
Run: /work/venv/bin/python -m bench.audit [--records 2000] [--rounds 3] [--checkpoint-every 256]
     [--postgres URL]   (default: $GATEWAY_TEST_POSTGRES_URL; a private schema is created and dropped)
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


def plain_insert(engine: Engine) -> Callable[[dict[str, Any]], None]:
    """The baseline: the same row and patient rows, serialised to JSON, one committed transaction each."""
    def insert(rec: dict[str, Any]) -> None:
        rec = normalise(rec)
        rec.setdefault("time", now_iso())
        with engine.connect() as conn:
            seq = conn.execute(plain_record.insert().values(
                prev_hash="0" * 64, hash="0" * 64, body=canonical(rec).decode(),
                seq=sa.select(sa.func.coalesce(sa.func.max(plain_record.c.seq), 0) + 1).scalar_subquery(),
                **index_row(rec)).returning(plain_record.c.seq)).scalar_one()
            conn.execute(plain_patient.insert(), patient_rows(seq, rec))
            conn.commit()
    return insert


def rate(append: Callable[[dict[str, Any]], Any], records: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    for rec in records:
        append(rec)
    return len(records) / (time.perf_counter() - start)


def measure(engine: Engine, n: int, rounds: int, every: int) -> tuple[float, float, bool]:
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
    return statistics.median(plain_rates), statistics.median(audit_rates), log.verify().ok


@contextmanager
def postgres_schema(url: str) -> Iterator[Engine]:
    schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checkpoint-every", type=int, default=256)
    parser.add_argument("--postgres", default=os.environ.get("GATEWAY_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    results: list[tuple[str, float, float, bool]] = []
    with tempfile.TemporaryDirectory() as tmp:
        # The gateway's own SQLite engine: WAL + synchronous=FULL, so every commit is durable.
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.sqlite'}")
        results.append(("sqlite", *measure(engine, args.records, args.rounds, args.checkpoint_every)))
        engine.dispose()
    if args.postgres:
        with postgres_schema(args.postgres) as engine:
            results.append(("postgresql", *measure(engine, args.records, args.rounds, args.checkpoint_every)))
    print(f"audit append vs plain durable insert: {args.records} records x {args.rounds} rounds (median), "
          f"checkpoint every {args.checkpoint_every}")
    print(f"{'backend':<12}{'plain/s':>10}{'audit/s':>10}{'ratio':>8}  target ≥ 0.5   chain")
    for backend, plain, audited, ok in results:
        ratio = audited / plain
        print(f"{backend:<12}{plain:>10.0f}{audited:>10.0f}{ratio:>8.2f}  {'met' if ratio >= 0.5 else 'MISSED':<12}  "
              f"{'verified' if ok else 'BROKEN'}")


if __name__ == "__main__":
    main()
