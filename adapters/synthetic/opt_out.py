"""The national data opt-out list (CSV, docs/formats.md) for invented people.

Some people changed their mind, so the file holds older rows that the latest one overrides, in
shuffled order: the final state of every person is ``Person.opted_out``.
"""
from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.synthetic.people import Person

_BASE = datetime(2026, 1, 1, tzinfo=UTC)


def opt_out_list(people: list[Person], seed: int = 1) -> str:
    rng = random.Random(seed)
    rows: list[tuple[str, str, str]] = []
    for p in people:
        latest = _BASE + timedelta(days=rng.randrange(100, 300), minutes=rng.randrange(0, 1440))
        rows.append((p.nhs_number, str(p.opted_out).lower(), latest.isoformat()))
        if p.opted_out or rng.random() < 0.1:  # an earlier, opposite choice
            earlier = latest - timedelta(days=rng.randrange(1, 90))
            rows.append((p.nhs_number, str(not p.opted_out).lower(), earlier.isoformat()))
    rng.shuffle(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("nhs_number", "opted_out", "updated"))
    writer.writerows(rows)
    return out.getvalue()


def write_opt_out(directory: Path, people: list[Person], seed: int = 1) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "national-data-opt-out.csv"
    path.write_text(opt_out_list(people, seed), encoding="utf-8")
    return [path]
