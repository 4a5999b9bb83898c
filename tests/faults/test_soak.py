"""The soak (bench/soak.py) in CI size: a served gateway under the mixed load of its real callers for two
minutes (GATEWAY_SOAK_SECONDS to change it; e.g. 30 locally), on SQLite and PostgreSQL.

Asserted: not one 5xx or transport error, every answer a 2xx (the mix only asks what each role may),
and resident memory after the run within GROWTH_BOUND_MIB of what it was after warm-up. Why that bound:
at the ~100 requests/s of a small machine two minutes are ~12,000 requests, so 32 MiB is less than
3 KB kept per request — a leaked Bundle, audit record or token per request (each several KB) would
cross it — while it leaves room for what a long-lived process legitimately still grows after
warm-up (allocator arenas, the token and label caches, SQLAlchemy's statement cache)."""
from __future__ import annotations

import os
from pathlib import Path

from bench.soak import soak

SECONDS = float(os.environ.get("GATEWAY_SOAK_SECONDS", "120"))
GROWTH_BOUND_MIB = 32


def test_a_soak_has_no_errors_and_bounded_memory(database_url: str, tmp_path: Path) -> None:
    report = soak(tmp_path, SECONDS, clients=6, database_url=database_url, warm_up=min(15.0, SECONDS / 4))
    print("\n".join(report.lines()))
    assert report.requests > SECONDS * 5, "too little load to mean anything"
    assert set(report.by_kind) == {"read", "search", "lookup", "everything", "ingest", "simulate"}
    assert report.error_count == 0, report.errors
    assert not report.unexpected, report.unexpected
    assert report.growth_kib <= GROWTH_BOUND_MIB * 1024, report.lines()
