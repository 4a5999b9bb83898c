"""Prometheus text-format metrics without a dependency: counters and histograms with labels.

One registry per process (``REGISTRY``). Under ``gateway serve --workers N`` every worker keeps
its own; a scrape through the load balancer sees one worker, so scrape each process (each pod in
Kubernetes) — the ``process`` label names it. Updates are a dict lookup and an add under one lock:
cheap beside a request (microseconds)."""
from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Metric:
    kind = ""

    def __init__(self, name: str, help: str, labels: Iterable[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help, tuple(labels)
        self._lock = threading.Lock()

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def render(self) -> list[str]:
        raise NotImplementedError


_M = TypeVar("_M", bound=_Metric)


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help: str, labels: Iterable[str] = ()) -> None:
        super().__init__(name, help, labels)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        with self._lock:
            self._values[labels] = self._values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(labels, 0.0)

    def render(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return self.header() + [f"{self.name}{_labels(self.label_names, k)} {v:g}" for k, v in items]


class Gauge(_Metric):
    """A value read when scraped (``fn`` returns it; None leaves the sample out)."""
    kind = "gauge"

    def __init__(self, name: str, help: str, fn: Callable[[], float | None]) -> None:
        super().__init__(name, help)
        self.fn = fn

    def render(self) -> list[str]:
        try:
            value = self.fn()
        except Exception:  # a scrape must never fail because one source is down
            value = None
        return self.header() + ([] if value is None else [f"{self.name} {value:g}"])


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help: str, labels: Iterable[str] = (),
                 buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        super().__init__(name, help, labels)
        self.buckets = buckets
        self._values: dict[tuple[str, ...], list[Any]] = {}  # counts per bucket (+Inf last), sum, count

    def observe(self, value: float, *labels: str) -> None:
        i = bisect.bisect_left(self.buckets, value)
        with self._lock:
            slot = self._values.get(labels)
            if slot is None:
                slot = self._values[labels] = [[0] * (len(self.buckets) + 1), 0.0, 0]
            slot[0][i] += 1
            slot[1] += value
            slot[2] += 1

    def count(self, *labels: str) -> int:
        slot = self._values.get(labels)
        return 0 if slot is None else slot[2]

    def render(self) -> list[str]:
        with self._lock:
            items = sorted((k, ([*v[0]], v[1], v[2])) for k, v in self._values.items())
        lines = self.header()
        for key, (counts, total, n) in items:
            running = 0
            for bound, c in zip([*self.buckets, float("inf")], counts):
                running += c
                le = 'le="+Inf"' if bound == float("inf") else f'le="{bound:g}"'
                lines.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {running}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, key)} {total:g}")
            lines.append(f"{self.name}_count{_labels(self.label_names, key)} {n}")
        return lines


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()

    def register(self, metric: _M) -> _M:
        """The metric of that name: the first one registered (so every module shares one object)."""
        with self._lock:
            found = self._metrics.setdefault(metric.name, metric)
        if not isinstance(found, type(metric)):
            raise TypeError(f"metric {metric.name} is already registered as a {found.kind}")
        return found

    def counter(self, name: str, help: str, labels: Iterable[str] = ()) -> Counter:
        return self.register(Counter(name, help, labels))

    def histogram(self, name: str, help: str, labels: Iterable[str] = (),
                  buckets: tuple[float, ...] = LATENCY_BUCKETS) -> Histogram:
        return self.register(Histogram(name, help, labels, buckets))

    def gauge(self, name: str, help: str, fn: Callable[[], float | None]) -> Gauge:
        """(Re)bind a scrape-time gauge: the newest ``fn`` wins (one gateway per process)."""
        with self._lock:
            gauge = self._metrics[name] = Gauge(name, help, fn)
            return gauge

    def render(self) -> str:
        with self._lock:
            metrics = list(self._metrics.values())
        lines = ["# HELP gateway_process_info this process (one series per worker)",
                 "# TYPE gateway_process_info gauge",
                 f'gateway_process_info{{process="{os.getpid()}"}} 1']
        for metric in metrics:
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"


REGISTRY = Registry()

# The gateway's own series (defined here so that every module shares one object).
HTTP_REQUESTS = REGISTRY.counter("gateway_http_requests_total", "HTTP requests by route and status",
                                 ("method", "route", "status"))
HTTP_LATENCY = REGISTRY.histogram("gateway_http_request_seconds", "HTTP request latency by route",
                                  ("method", "route"))
DECISIONS = REGISTRY.counter("gateway_policy_decisions_total", "released/redacted/noticed/hidden items in audit "
                             "records, by effect", ("effect",))
AUDIT_APPEND_LATENCY = REGISTRY.histogram("gateway_audit_append_seconds",
                                          "time from AuditLog.append to its record being durable")
AUDIT_BATCH_SIZE = REGISTRY.histogram("gateway_audit_batch_records", "records per group-committed audit batch",
                                      buckets=SIZE_BUCKETS)
AUDIT_FAILURES = REGISTRY.counter("gateway_audit_write_failures_total", "audit appends that failed (503s)")
INGEST_MESSAGES = REGISTRY.counter("gateway_ingest_messages_total", "ingested messages by format and result",
                                   ("format", "result"))
POLICY_SWAPS = REGISTRY.counter("gateway_policy_swaps_total", "policy versions put live in this process, by cause",
                                ("cause",))


def count_ingest(format: str, summary: object) -> None:
    """Count one ingest run's messages by result (the API's and the CLI's runs alike)."""
    for result in ("accepted", "updated", "unchanged", "stale", "quarantined", "held_for_review"):
        n = getattr(summary, result, 0) or 0
        if n:
            INGEST_MESSAGES.inc(format, result, amount=float(n))
