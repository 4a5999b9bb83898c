"""``gateway ingest --jobs K``: the input files spread over K worker processes, one summary in input order.

Each worker is a whole ingest pipeline with its own database connection; the files go out in chunks
(in order, several per worker, so that a slow chunk does not leave the other workers idle) and the
chunks' summaries come back in input order. Workers may meet the same person — the same file twice,
or the GP's and the council's records of one person — and matching stays exact because each
transaction claims the people it is about before reading their rows (``IngestBatch.claim_people``).

PostgreSQL only: SQLite lets one process write at a time, so more workers there would only wait for
each other's write lock (and time out); it is refused with a message saying so.
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import sqlalchemy as sa

from gateway.ingest.pipeline import IngestSummary, read_files
from gateway.settings import Settings
from gateway.wiring import Gateway, build_gateway

CHUNKS_PER_JOB = 4  # chunks handed to each worker: balance against one transaction per chunk at least

_worker: Gateway | None = None  # the pipeline of this worker process


class ParallelIngestRefused(Exception):
    """More than one job was asked for on a database that cannot take parallel writers."""


def check_jobs(settings: Settings, jobs: int) -> None:
    if jobs < 1:
        raise ParallelIngestRefused(f"--jobs must be at least 1, not {jobs}")
    if jobs > 1 and sa.make_url(settings.database_url).get_backend_name() != "postgresql":
        raise ParallelIngestRefused(
            f"--jobs {jobs} needs PostgreSQL: SQLite lets one process write at a time, so parallel workers "
            "would only queue for its write lock; run with --jobs 1 (the default), or use PostgreSQL")


def ingest_in_parallel(settings: Settings, sources: Sequence[tuple[str, Sequence[Path]]], jobs: int,
                       on_chunk: Callable[[int], None] | None = None) -> list[IngestSummary]:
    """Ingest each (format, files) of ``sources`` with ``jobs`` worker processes between them: one
    summary per source, its inputs in order. ``on_chunk(n)`` as each chunk of n files is done.

    Chunks are handed out in order, so workers mostly ingest different people at the same time (a
    person another worker holds costs a wait: see ``IngestBatch.claim_people``). The caller has built
    (and closed) a gateway on ``settings`` first: the schema is migrated and the policy published
    before the workers start, which only connect.
    """
    check_jobs(settings, jobs)
    chunks = []
    for index, (format, files) in enumerate(sources):
        size = max(1, -(-len(files) // (jobs * CHUNKS_PER_JOB)))
        chunks += [(index, format, list(files[i:i + size])) for i in range(0, len(files), size)]
    totals = [IngestSummary() for _ in sources]
    # fork: the workers inherit the imported adapters, models and compiled policy instead of paying
    # for them again (seconds each); they open database connections of their own.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max(1, min(jobs, len(chunks))), mp_context=context, initializer=_start_worker,
                             initargs=(settings,)) as pool:
        for (index, _, _), summary in zip(chunks, pool.map(_ingest_chunk, chunks), strict=True):
            totals[index].add(summary)
            totals[index].inputs.extend(summary.inputs)
            if on_chunk is not None:
                on_chunk(len(summary.inputs))
    return totals


def _start_worker(settings: Settings) -> None:
    global _worker
    _worker = build_gateway(settings, run_migrations=False)


def _ingest_chunk(task: tuple[int, str, list[Path]]) -> IngestSummary:
    _, format, files = task
    assert _worker is not None, "the pool's initializer builds the worker's gateway"
    return _worker.ingestor.ingest_files(format, read_files(files))
