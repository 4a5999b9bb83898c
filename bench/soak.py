"""Soak: a served gateway under a steady mixed load for minutes, watching for errors and memory growth.

The mix (bench/mix.py): reads, searches, NHS-number look-ups and ``$everything`` by GPs, pushes of their
exports by the practices' systems, and policy simulations by an IG officer. Reported: requests, errors
(any 5xx or transport error; 4xx are answers the mix does not expect either, counted apart), and the
server process's resident memory — at the end of warm-up, at the end, and the peak sampled every second.

Run: .venv/bin/python -m bench.soak [--minutes 2] [--clients 8] [--people 6] [--database-url URL]
     (default: a fresh SQLite file; the server is `gateway serve`, one process)
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.mix import Answer, Mix, drive, load_people
from bench.served import ServedGateway, rss_kib
from gateway.logging import configure
from gateway.testing import initialised_settings

WARM_UP_SECONDS = 15.0  # caches filled, pools opened, allocator arenas sized: growth is measured from here


@dataclass
class Report:
    seconds: float = 0.0
    requests: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # 5xx and transport errors, by kind and status
    unexpected: Counter[str] = field(default_factory=Counter)  # other non-2xx answers
    rss_start_kib: int = 0  # at the end of warm-up
    rss_end_kib: int = 0
    rss_peak_kib: int = 0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def growth_kib(self) -> int:
        return self.rss_end_kib - self.rss_start_kib

    def lines(self) -> list[str]:
        rate = self.requests / self.seconds if self.seconds else 0.0
        return [
            f"soak: {self.seconds:.0f} s, {self.requests} requests ({rate:.0f}/s): "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.by_kind.items())),
            f"errors (5xx or transport): {self.error_count}" + (f" {dict(self.errors)}" if self.errors else ""),
            f"other non-2xx answers: {sum(self.unexpected.values())}"
            + (f" {dict(self.unexpected)}" if self.unexpected else ""),
            f"server RSS: {self.rss_start_kib / 1024:.1f} MiB after warm-up, {self.rss_end_kib / 1024:.1f} MiB at the "
            f"end (growth {self.growth_kib / 1024:+.1f} MiB), peak {self.rss_peak_kib / 1024:.1f} MiB",
        ]


def soak(directory: Path, seconds: float, *, clients: int = 8, people: int = 6, database_url: str | None = None,
         warm_up: float = WARM_UP_SECONDS) -> Report:
    """Load ``people`` records into a fresh database, serve it, run the mix for ``warm_up`` + ``seconds``."""
    settings = initialised_settings(directory, database_url)
    targets = load_people(settings, people)
    server = ServedGateway(settings, directory)
    report = Report()
    lock = threading.Lock()
    measuring = threading.Event()

    def on_answer(answer: Answer) -> None:
        if not measuring.is_set():
            return
        kind = answer.request.kind
        with lock:
            report.requests += 1
            report.by_kind[kind] += 1
            if answer.status == 0 or answer.status >= 500:
                report.errors[f"{kind} {answer.status or answer.error}"] += 1
            elif not 200 <= answer.status < 300:
                report.unexpected[f"{kind} {answer.status}"] += 1

    stop = threading.Event()
    try:
        threads = drive(server.base_url, Mix(settings, targets), clients, stop, on_answer)
        time.sleep(warm_up)
        report.rss_start_kib = rss_kib(server.pid)[0]
        measuring.set()
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            report.rss_peak_kib = max(report.rss_peak_kib, rss_kib(server.pid)[0])
            if server.process.poll() is not None:
                report.errors["server exited"] += 1
                break
            time.sleep(min(1.0, seconds - elapsed))
        measuring.clear()
        report.seconds = time.monotonic() - started
        report.rss_end_kib = rss_kib(server.pid)[0] if server.process.poll() is None else 0
        report.rss_peak_kib = max(report.rss_peak_kib, report.rss_end_kib)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        stop.set()
        server.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--people", type=int, default=6)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    configure("warning")
    with tempfile.TemporaryDirectory() as tmp:
        report = soak(Path(tmp), args.minutes * 60, clients=args.clients, people=args.people,
                      database_url=args.database_url)
    print("\n".join(report.lines()))
    sys.exit(1 if report.error_count else 0)


if __name__ == "__main__":
    main()
