"""Ingest benchmark: source records/s of the full pipeline vs. parse-only of the same files, one run.

Targets: full/parse ratio ≥ 0.3 and ≥ 1,000 source records/s on one core, on SQLite and PostgreSQL.
Three baselines are printed, honestly labelled: "parse" is the adapter's parse() alone (split the
input into source messages), "parse+map" adds map() (source messages → FHIR R4 dicts), and
"p+m+valid" adds the one R4B validation of each mapped resource that ingest requires (invariant 1 of
docs/architecture.md) — what the rest of the pipeline (match, label, Provenance, store) is then
measured against. Records are the items map() yields, for every rate, so the rates compare the same work.
Full ingest = parse, map, validate (pydantic R4B, once), match, label, provenance, store — the way
``gateway ingest`` does it: one ``ingest_files`` call per format over all its files, read lazily (the
messages of many small files share the batch's transactions).
Every rate is taken after a warm-up pass over one file per format (see ``warm_up``), with the objects
of startup frozen out of the cyclic collector's scans (``gc.freeze``, as ``gateway serve`` and
``gateway ingest`` do).
Run: .venv/bin/python -m bench.ingest [--people 200] [--postgres URL]
"""
from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

from adapters.base import MappedRecord, SourceMessage
from gateway.demo import write_sources
from gateway.ingest.pipeline import read_files
from gateway.ingest.registry import load_adapters
from gateway.ingest.validate import problem
from gateway.services import build_gateway
from gateway.testing import fresh_postgres_database, settings_for


def parse_only(format: str, files: list[Path]) -> float:
    adapter = load_adapters()[format]
    start = time.perf_counter()
    for path in files:
        for _ in adapter.parse(path.read_bytes(), str(path)):
            pass
    return time.perf_counter() - start


def parse_and_map(format: str, files: list[Path], validate: bool = False) -> tuple[int, float]:
    adapter = load_adapters()[format]
    start = time.perf_counter()
    records = 0
    for path in files:
        for message in adapter.parse(path.read_bytes(), str(path)):
            if isinstance(message, SourceMessage):
                for item in adapter.map(message):
                    records += 1
                    if validate and isinstance(item, MappedRecord):
                        problem(item.resource)
    return records, time.perf_counter() - start


def full_ingest(database_url: str, tmp: Path, sources: list[tuple[str, list[Path]]]) -> dict[str, float]:
    gw = build_gateway(settings_for(tmp, database_url))
    gc.freeze()  # as `gateway ingest` does (startup objects out of the collector's full scans)
    elapsed = {}
    for format, files in sources:
        start = time.perf_counter()
        gw.ingestor.ingest_files(format, read_files(files))
        elapsed[format] = time.perf_counter() - start
    gw.close()
    return elapsed


def warm_up(tmp: Path, sources: list[tuple[str, list[Path]]]) -> None:
    """Steady state for every rate: the first file of each format through parse, map and the full
    pipeline (into a scratch database), so one-off imports (adapters, the FHIR model classes that
    fhir.resources loads on first use, policy compilation) are not charged to whichever rate runs first."""
    first = [(format, files[:1]) for format, files in sources]
    for format, files in first:
        parse_and_map(format, files)
    (tmp / "warm-up").mkdir()
    full_ingest(f"sqlite:///{tmp / 'warm-up' / 'scratch.sqlite'}", tmp / "warm-up", first)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--postgres", default=None, help="admin URL of a PostgreSQL server (a fresh database is made)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sources = write_sources(tmp / "data", args.people)
        warm_up(tmp, sources)
        gc.freeze()  # the same for the baselines: every rate runs with the imported models out of full scans
        mapped = {format: parse_and_map(format, files) for format, files in sources}
        validated = {format: parse_and_map(format, files, validate=True)[1] for format, files in sources}
        parsed = {format: parse_only(format, files) for format, files in sources}
        engines = [("sqlite", f"sqlite:///{tmp / 'bench.sqlite'}")]
        results = {"sqlite": full_ingest(engines[0][1], tmp, sources)}
        if args.postgres:
            import os

            os.environ["GATEWAY_TEST_POSTGRES_URL"] = args.postgres
            with fresh_postgres_database() as url:
                (tmp / "pg").mkdir()
                results["postgres"] = full_ingest(url, tmp / "pg", sources)
        header = f"{'format':12} {'records':>8} {'parse/s':>9} {'parse+map/s':>12} {'p+m+valid/s':>12}"
        for name in results:
            header += f" {name + ' full/s':>15} {'vs parse':>9} {'vs p+map':>9} {'vs p+m+v':>9}"
        print(header)
        for format, _ in sources:
            records, t_map = mapped[format]
            parse_rate, map_rate, valid_rate = records / parsed[format], records / t_map, records / validated[format]
            row = f"{format:12} {records:>8} {parse_rate:>9.0f} {map_rate:>12.0f} {valid_rate:>12.0f}"
            for name, elapsed in results.items():
                rate = records / elapsed[format]
                row += (f" {rate:>15.0f} {rate / parse_rate:>9.2f} {rate / map_rate:>9.2f}"
                        f" {rate / valid_rate:>9.2f}")
            print(row)
        print("targets: full ≥ 1000 records/s; ratio full/parse ≥ 0.3 (printed against parse alone, parse+map, "
              "and parse+map+validate)")


if __name__ == "__main__":
    main()
