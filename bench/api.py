"""API benchmark: the full path (auth → policy → redaction → audit commit → orjson) against baselines.

(a) $everything of a ≈200-resource record, full policy vs. a release-all engine (target ratio ≤ 1.25)
(b) requests/s of the full path vs. a bare FastAPI route returning the same JSON (target ≥ 0.5); and,
    to show what the gateway's own work costs, vs. a bare route that reads the same record from the
    same store and returns it (no auth, no policy, no audit) — a plain FHIR server's read
(c) $everything latency as the store grows: 1k, 100k, 1M stored resources (target: flat)
Then, for (b), where a full-path request spends its time: each step of the $everything route timed
in-process (medians over the same number of requests), beside the bare route's only step.

Each variant is served the way `gateway serve` serves it (uvicorn, its own process, on 127.0.0.1)
and driven by one keep-alive httpx client, so every side pays the same HTTP costs and none pays a
test client's. The variants are interleaved (request by request for (a), block by block for (b))
so that drift on a shared machine hits them alike; medians are reported.

Run: .venv/bin/python -m bench.api [--sizes 1000,100000,1000000] [--requests 200] [--database-url URL]
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from fastapi import FastAPI

from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.people import invent_people
from bench.servers import ENV_DIR, Server, settings
from gateway.api.app import create_app
from gateway.api.responses import FhirJSONResponse
from gateway.disclosure import DisclosureService
from gateway.logging import configure
from gateway.policy import ReleaseAllEngine
from gateway.store.tables import ResourceRow
from gateway.testing import auth_headers, initialised_settings
from gateway.wiring import Gateway, build_gateway

BODY_FILE = "bare-body.json"


class _Fixed:
    """A policy holder that always answers with one engine (the release-all baseline)."""

    def __init__(self, engine: object) -> None:
        self.engine = engine


def load_record(gw: Gateway, extra_items: int) -> tuple[str, str, int]:
    person = invent_people(1, seed=99)[0]
    gw.ingestor.ingest_bytes("gp-connect", orjson.dumps(gp_connect_bundle(person, extra_items=extra_items)), "bench")
    [patient] = gw.store.find_by_identifier("Patient", "https://fhir.nhs.uk/Id/nhs-number", person.nhs_number)
    return patient.id, person.practice_ods, len(gw.store.compartment(patient.id))


def pad_store(gw: Gateway, total: int) -> None:
    """Fill the store with other patients' Observations (bulk rows) up to ``total`` resources."""
    table = ResourceRow.__table__
    missing = total - gw.store.count()
    now = datetime.now(UTC)
    batch: list[dict[str, Any]] = []
    with gw.engine.begin() as conn:
        for i in range(max(0, missing)):
            rid = uuid.uuid4().hex
            content = orjson.dumps({"resourceType": "Observation", "id": rid, "status": "final",
                                    "code": {"text": "padding"}, "subject": {"reference": f"Patient/pad{i // 50}"}})
            batch.append({"resource_type": "Observation", "id": rid, "version_id": 1, "last_updated": now,
                          "deleted": False, "patient_id": f"pad{i // 50}", "categories": "clinical_summary",
                          "content": content.decode()})
            if len(batch) == 5000:
                conn.execute(table.insert(), batch)
                batch.clear()
        if batch:
            conn.execute(table.insert(), batch)


# -- the served variants (each in its own process; bench.servers has the full and bare-store ones) ----
def release_all_app() -> FastAPI:
    gw = build_gateway(settings(), run_migrations=False)
    fixed = _Fixed(ReleaseAllEngine(gw.policies.engine))
    gw = Gateway(**{**gw.__dict__, "policies": fixed, "disclosure": DisclosureService(gw.store, fixed, gw.audit)})
    configure("warning")
    app = create_app(gw)
    gc.freeze()
    return app


def bare_app() -> FastAPI:
    """The full path's $everything answer, read from a file once and serialised per request."""
    configure("warning")
    body = orjson.loads((Path(os.environ[ENV_DIR]) / BODY_FILE).read_bytes())
    app = FastAPI()
    app.get("/bare")(lambda: FhirJSONResponse(body))
    gc.freeze()
    return app


class _Client:
    """A server and one keep-alive client to it."""

    def __init__(self, factory: str, directory: Path, database_url: str | None) -> None:
        self.server = Server(factory, directory, database_url)
        self.client = httpx.Client(base_url=self.server.url, timeout=60)

    def close(self) -> None:
        self.client.close()
        self.server.close()


def breakdown(gw: Gateway, patient_id: str, token: str, n: int) -> None:
    """The $everything route's steps, timed in this process on the same record (medians of ``n``)."""
    from gateway.audit.canonical import normalise
    from gateway.disclosure import Caller, searchset
    from gateway.fhir_json import materialised

    requester = gw.verifier.verify(token)
    steps: dict[str, list[float]] = {name: [] for name in (
        "load the compartment (SQL + rows)", "disclosure (labels, 208 decisions memoised, notices)",
        "build the Bundle", "serialise the Bundle (orjson)", "audit append (hash chain, durable commit)")}
    bare_body = materialised(searchset("http://x/fhir", "p", [], [
        *gw.disclosure.open(requester).decide(gw.store.compartment(patient_id))], offset=0, count=None)[0])
    bare: list[float] = []
    for i in range(n + 10):
        marks = [time.perf_counter()]
        compartment = gw.store.compartment(patient_id)
        marks.append(time.perf_counter())
        d = gw.disclosure.open(requester, patient_id=patient_id)
        released = d.decide(compartment, compartment)
        outcome = d.notice_outcome()
        marks.append(time.perf_counter())
        bundle, sent = searchset("http://x/fhir", f"Patient/{patient_id}/$everything", [], released, offset=0,
                                 count=None, outcome=outcome)
        marks.append(time.perf_counter())
        orjson.dumps(bundle)
        marks.append(time.perf_counter())
        gw.disclosure.commit(normalise(d.record(Caller("bench"), sent=sent)))
        marks.append(time.perf_counter())
        start = time.perf_counter()
        orjson.dumps(bare_body)
        if i >= 10:
            bare.append(time.perf_counter() - start)
            for name, (a, b) in zip(steps, zip(marks, marks[1:]), strict=True):
                steps[name].append(b - a)
    total = 0.0
    for name, times in steps.items():
        ms = statistics.median(times) * 1000
        total += ms
        print(f"    {name:48} {ms:6.2f} ms")
    print(f"    {'sum':48} {total:6.2f} ms;  the bare route's one step (serialise the dict): "
          f"{statistics.median(bare) * 1000:.2f} ms")


def _one(call: Callable[[], httpx.Response]) -> float:
    start = time.perf_counter()
    response = call()
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.text[:300]
    return elapsed


Call = Callable[[], httpx.Response]


def measure_overhead(get_full: Call, get_all: Call, n: int, size: int, body: bytes) -> None:
    """(a) the policy's own cost: the full path against the same route releasing everything."""
    pairs = [(_one(get_full), _one(get_all)) for _ in range(n)]
    t_full = statistics.median(p[0] for p in pairs)
    t_all = statistics.median(p[1] for p in pairs)
    entries = len(orjson.loads(body).get("entry", []))
    print(f"(a) $everything of {size} resources ({entries} entries): full {t_full * 1000:.2f} ms, "
          f"release-all {t_all * 1000:.2f} ms (medians of {n}), ratio {t_full / t_all:.2f} (target ≤ 1.25)")


def measure_rates(calls: dict[str, Call], n: int) -> None:
    """(b) requests/s of the full path, a bare FastAPI route and a bare store read, in alternating blocks."""
    rps: dict[str, list[float]] = {name: [] for name in calls}
    block = max(10, n // 10)
    for _ in range(10):
        for name, call in calls.items():
            start = time.perf_counter()
            for _ in range(block):
                _one(call)
            rps[name].append(block / (time.perf_counter() - start))
    r_full, r_bare = statistics.median(rps["full"]), statistics.median(rps["bare"])
    r_store = statistics.median(rps["bare-store"])
    print(f"(b) requests/s (median of 10 blocks of {block}): full path {r_full:.0f}, "
          f"bare FastAPI route {r_bare:.0f}, ratio {r_full / r_bare:.2f} (target ≥ 0.5)")
    print(f"    the same record read from the store by a bare route (no auth, policy or audit): "
          f"{r_store:.0f} requests/s; full path / it: {r_full / r_store:.2f}")


def measure_growth(gw: Gateway, get_full: Call, sizes: str, n: int) -> None:
    """(c) $everything latency as the store grows."""
    print("(c) $everything latency as the store grows:")
    first = None
    for total in [int(s) for s in sizes.split(",")]:
        pad_store(gw, total)
        for _ in range(10):
            _one(get_full)
        t = statistics.median(_one(get_full) for _ in range(max(50, n // 2)))
        first = first or t
        print(f"    {gw.store.count():>9} stored resources: {t * 1000:.2f} ms (×{t / first:.2f} of the first)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    configure("warning")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        settings = initialised_settings(directory, args.database_url, audit_checkpoint_every=1000)
        gw = build_gateway(settings)
        patient_id, practice, size = load_record(gw, extra_items=170)
        headers = auth_headers(settings, "gp", practice)
        url = f"/fhir/Patient/{patient_id}/$everything"
        full = _Client("bench.servers:full_app", directory, args.database_url)
        release_all = _Client("bench.api:release_all_app", directory, args.database_url)
        full.server.wait("/fhir/metadata")
        body = full.client.get(url, headers=headers).content
        (directory / BODY_FILE).write_bytes(body)
        bare = _Client("bench.api:bare_app", directory, None)
        bare_store = _Client("bench.servers:bare_app", directory, args.database_url)
        servers = (full, release_all, bare, bare_store)
        try:
            release_all.server.wait("/fhir/metadata")
            bare.server.wait("/bare")
            bare_store.server.wait(url)
            calls: dict[str, Call] = {
                "full": lambda: full.client.get(url, headers=headers),
                "all": lambda: release_all.client.get(url, headers=headers),
                "bare": lambda: bare.client.get("/bare"),
                "bare-store": lambda: bare_store.client.get(url)}
            for call in calls.values():  # warm up
                for _ in range(20):
                    _one(call)
            measure_overhead(calls["full"], calls["all"], args.requests, size, body)
            measure_rates({k: calls[k] for k in ("full", "bare", "bare-store")}, args.requests)
            measure_growth(gw, calls["full"], args.sizes, args.requests)
            print("(b) where a full-path request's time goes (in-process, same record):")
            breakdown(gw, patient_id, headers["Authorization"].split()[1], args.requests)
        finally:
            for server in servers:
                server.close()
            gw.close()


if __name__ == "__main__":
    main()
