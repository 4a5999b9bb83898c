"""Ingest benchmark: source records/s of the full pipeline vs. parse-only of the same files, one run.

Targets: full ingest ≥ 0.7 of parse+map+validate in every format, and ≥ 1,000 source records/s on one
core, on SQLite and PostgreSQL. Every measurement is repeated (``--rounds``): the table shows each
rate's best round and the ratios of every round are printed, since other work on the machine moves
absolute numbers.
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

Parallel ingest (with ``--postgres``): the formats that come as many files (one per person) ingested
by ``ingest_in_parallel`` with K=1 and K=2 worker processes into fresh databases, alternately, in the
same run; target K=2 ≥ 1.6 × K=1. Each round's ratio is printed, so the spread shows.
Run: .venv/bin/python -m bench.ingest [--people 200] [--postgres URL] [--rounds 2]
"""
from __future__ import annotations

import argparse
import gc
import os
import resource
import tempfile
import time
from pathlib import Path

from adapters.base import MappedRecord, SourceMessage
from gateway.demo import write_sources
from gateway.ingest.pipeline import read_files
from gateway.ingest.registry import load_adapters
from gateway.ingest.validate import problem
from gateway.ingest_jobs import ingest_in_parallel
from gateway.testing import POSTGRES_ENV, fresh_postgres_database, initialised_settings
from gateway.wiring import build_gateway


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
    gw = build_gateway(initialised_settings(tmp, database_url))
    gc.freeze()  # as `gateway ingest` does (startup objects out of the collector's full scans)
    elapsed = {}
    for format, files in sources:
        start = time.perf_counter()
        gw.ingestor.ingest_files(format, read_files(files))
        elapsed[format] = time.perf_counter() - start
    gw.close()
    return elapsed


def parallel_ingest(tmp: Path, sources: list[tuple[str, list[Path]]], jobs: int) -> tuple[float, float]:
    """Seconds for ``jobs`` worker processes to ingest ``sources`` into a fresh PostgreSQL database
    (migrated and published first, untimed, as ``gateway ingest`` does before it starts its workers),
    and the CPU seconds the workers used between them."""
    with fresh_postgres_database() as url:
        settings = initialised_settings(tmp, url)
        build_gateway(settings).close()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers are this process's children
        start = time.perf_counter()
        ingest_in_parallel(settings, sources, jobs)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return elapsed, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def compare_jobs(tmp: Path, sources: list[tuple[str, list[Path]]], records: int, rounds: int) -> None:
    many = [(format, files) for format, files in sources if len(files) > 1]
    print(f"\nparallel ingest on PostgreSQL: {', '.join(f for f, _ in many)} ({records} records), "
          "worker processes K=1 vs K=2, alternately")
    ratios, bounds = [], []
    for round in range(rounds):
        elapsed, cpu = {}, {}
        for jobs in (1, 2):
            directory = tmp / f"jobs-{round}-{jobs}"
            directory.mkdir()
            elapsed[jobs], cpu[jobs] = parallel_ingest(directory, many, jobs)
        ratios.append(elapsed[1] / elapsed[2])
        # What two idle cores would allow: K=1's CPU work over half of K=2's (the work added by running
        # two workers — lock claims, waits, two connections — counts against it).
        bounds.append(cpu[1] / (cpu[2] / 2))
        print(f"  round {round + 1}: K=1 {records / elapsed[1]:7.0f} records/s ({cpu[1]:.1f} s CPU), "
              f"K=2 {records / elapsed[2]:7.0f} records/s ({cpu[2]:.1f} s CPU), K=2/K=1 = {ratios[-1]:.2f}; "
              f"CPU-bound K=2/K=1 = {bounds[-1]:.2f}")
    print(f"  K=2/K=1 from {min(ratios):.2f} to {max(ratios):.2f} (target ≥ 1.6); CPU-bound from "
          f"{min(bounds):.2f} to {max(bounds):.2f}; load average now {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")


def warm_up(tmp: Path, sources: list[tuple[str, list[Path]]]) -> None:
    """Steady state for every rate: the first file of each format through parse, map and the full
    pipeline (into a scratch database), so one-off imports (adapters, the FHIR model classes that
    fhir.resources loads on first use, policy compilation) are not charged to whichever rate runs first."""
    first = [(format, files[:1]) for format, files in sources]
    for format, files in first:
        parse_and_map(format, files)
    (tmp / "warm-up").mkdir()
    full_ingest(f"sqlite:///{tmp / 'warm-up' / 'scratch.sqlite'}", tmp / "warm-up", first)


def ratio_rounds(tmp: Path, sources: list[tuple[str, list[Path]]], postgres: bool, rounds: int) -> None:
    """Every baseline and every full ingest (into a fresh database) once per round; the table shows
    each rate's best round, then the spread of full/(parse+map+validate) over the rounds."""
    mapped: dict[str, list[float]] = {}
    validated: dict[str, list[float]] = {}
    parsed: dict[str, list[float]] = {}
    full: dict[str, dict[str, list[float]]] = {"sqlite": {}, **({"postgres": {}} if postgres else {})}
    records = {format: parse_and_map(format, files)[0] for format, files in sources}
    for round in range(rounds):
        for format, files in sources:
            mapped.setdefault(format, []).append(parse_and_map(format, files)[1])
            validated.setdefault(format, []).append(parse_and_map(format, files, validate=True)[1])
            parsed.setdefault(format, []).append(parse_only(format, files))
        directory = tmp / f"ratio-{round}"
        directory.mkdir()
        for format, elapsed in full_ingest(f"sqlite:///{directory / 'bench.sqlite'}", directory, sources).items():
            full["sqlite"].setdefault(format, []).append(elapsed)
        if postgres:
            with fresh_postgres_database() as url:
                (directory / "pg").mkdir()
                for format, elapsed in full_ingest(url, directory / "pg", sources).items():
                    full["postgres"].setdefault(format, []).append(elapsed)
    header = f"{'format':12} {'records':>8} {'parse/s':>9} {'parse+map/s':>12} {'p+m+valid/s':>12}"
    for name in full:
        header += f" {name + ' full/s':>15} {'vs parse':>9} {'vs p+map':>9} {'vs p+m+v':>9}"
    print(header)
    for format, _ in sources:
        n = records[format]
        parse_rate, map_rate = n / min(parsed[format]), n / min(mapped[format])
        valid_rate = n / min(validated[format])
        row = f"{format:12} {n:>8} {parse_rate:>9.0f} {map_rate:>12.0f} {valid_rate:>12.0f}"
        for times in full.values():
            rate = n / min(times[format])
            row += f" {rate:>15.0f} {rate / parse_rate:>9.2f} {rate / map_rate:>9.2f} {rate / valid_rate:>9.2f}"
        print(row)
    print(f"full/(parse+map+validate), round by round ({rounds} rounds; target ≥ 0.7 in every format):")
    for name, per_format in full.items():
        spread = "  ".join(
            f"{format} " + "/".join(f"{v / f:.2f}" for v, f in zip(validated[format], per_format[format], strict=True))
            for format, _ in sources)
        print(f"  {name:8} {spread}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--postgres", default=None, help="admin URL of a PostgreSQL server (a fresh database is made)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every measurement (the spread is printed)")
    parser.add_argument("--part", choices=("all", "ratio", "jobs"), default="all",
                        help="ratio: full ingest vs its baselines; jobs: K=2 vs K=1 workers (needs --postgres)")
    args = parser.parse_args()
    if args.postgres:
        os.environ[POSTGRES_ENV] = args.postgres
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sources = write_sources(tmp / "data", args.people)
        warm_up(tmp, sources)
        gc.freeze()  # the same for the baselines: every rate runs with the imported models out of full scans
        if args.part in ("all", "ratio"):
            ratio_rounds(tmp, sources, bool(args.postgres), args.rounds)
        if args.part in ("all", "jobs") and args.postgres:
            many = sum(parse_and_map(format, files)[0] for format, files in sources if len(files) > 1)
            compare_jobs(tmp, sources, many, args.rounds)


if __name__ == "__main__":
    main()
