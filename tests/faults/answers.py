"""What the clients of a served gateway received during a fault, and the checks made afterwards:
every answer that names an audit record has that very record, the chain verifies (`gateway audit
verify`, the auditor's own command), and every export a source pushed is stored whole if the push was
answered 200 — and can be pushed again if it was not."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson

from bench.mix import Answer, Mix, drive, send
from bench.served import ServedGateway, gateway_env
from gateway.settings import Settings
from gateway.wiring import build_gateway


class Answers:
    """A thread-safe list of answers (the callback of bench.mix.drive)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[Answer] = []

    def __call__(self, answer: Answer) -> None:
        with self._lock:
            self.items.append(answer)

    def since(self, mark: int) -> list[Answer]:
        with self._lock:
            return self.items[mark:]

    def wait_for(self, enough: Callable[[list[Answer]], bool], mark: int = 0, timeout: float = 120) -> None:
        """Until the answers since ``mark`` satisfy ``enough`` (AssertionError after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while not enough(self.since(mark)):
            assert time.monotonic() < deadline, f"waited {timeout} s: {summary(self.since(mark))}"
            time.sleep(0.2)


def ok(answers: list[Answer], kind: str | None = None) -> list[Answer]:
    return [a for a in answers if a.status == 200 and (kind is None or a.request.kind == kind)]


def summary(answers: list[Answer]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for a in answers:
        key = f"{a.request.kind} {a.status or a.error}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def refused_closed(answer: Answer) -> bool:
    """A 503 OperationOutcome that names no audit record: nothing was released."""
    return (answer.status == 503 and answer.content_type.startswith("application/fhir+json")
            and orjson.loads(answer.body)["resourceType"] == "OperationOutcome" and answer.audit_seq is None)


def assert_audited(settings: Settings, answers: list[Answer]) -> None:
    """Each answer that names an audit record has it, and it is this request's; a 200 of a reading
    surface always names one."""
    gw = build_gateway(settings)
    try:
        audited = {e.record.get("request_id"): e.seq for e in gw.audit.iter_entries()}
    finally:
        gw.close()
    unnamed = [a.request.headers["X-Request-ID"] for a in ok(answers) if a.request.kind != "ingest" and not a.audit_seq]
    assert not unnamed, f"answers released without naming their audit record: {unnamed[:5]}"
    wrong = [(a.request.headers["X-Request-ID"], a.audit_seq) for a in answers if a.audit_seq
             and str(audited.get(a.request.headers["X-Request-ID"])) != a.audit_seq]
    assert not wrong, f"{len(wrong)} answers whose audit record is missing or another's: {wrong[:5]}"


def assert_chain_verifies(settings: Settings, cwd: Path) -> None:
    verify = subprocess.run([sys.executable, "-m", "gateway.cli", "audit", "verify"], env=gateway_env(settings),
                            cwd=cwd, capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def assert_pushes_kept_or_repeatable(base_url: str, mix: Mix, answers: list[Answer]) -> None:
    """Push every export again: one answered 200 before adds nothing now (it was all stored), and any
    other goes through (nothing was half-kept that would block it)."""
    answered = {a.request.body for a in ok(answers, "ingest")}
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for i, pushed in enumerate(mix.pushes):
            again = send(client, mix.request(mix.kinds.index("ingest") + i * len(mix.kinds), f"again-{i}"))
            assert again.request.body == pushed.bundle
            assert again.status == 200, again.body[:300]
            if pushed.bundle in answered:
                assert orjson.loads(again.body)["accepted"] == 0, (pushed.person.index, again.body[:300])
            else:
                assert orjson.loads(again.body)["messages"] == 1


@contextmanager
def under_load(base_url: str, mix: Mix, clients: int) -> Iterator[Answers]:
    """``clients`` threads send the mix while the body runs (the fault happens there); joined after."""
    answers, stop = Answers(), threading.Event()
    threads = drive(base_url, mix, clients, stop, answers)
    try:
        yield answers
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


def assert_failed_closed_and_recovered(gateway: ServedGateway, mix: Mix, got: list[Answer], cwd: Path) -> None:
    """After a fault the same process still serves; every answer was served or refused closed; pushes
    were kept whole or can be sent again; then (the gateway stopped) every answer naming an audit record
    has it, and the chain verifies."""
    try:
        assert gateway.process.poll() is None, "the gateway kept running"
        assert not (other := [a for a in got if a.status != 200 and not refused_closed(a)]), summary(other)
        assert_pushes_kept_or_repeatable(gateway.base_url, mix, got)
    finally:
        gateway.close()
    assert_audited(gateway.settings, got)
    assert_chain_verifies(gateway.settings, cwd)
