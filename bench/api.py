"""API benchmark: the full path (auth → policy → audit → orjson) against baselines in the same run.

(a) $everything of a ≈200-resource record, full policy vs. a release-all engine (target ratio ≤ 1.25)
(b) requests/s of the full path vs. a bare FastAPI route returning the same JSON (target ≥ 0.5)
(c) $everything latency as the store grows: 1k, 100k, 1M stored resources (target: flat)

Run: .venv/bin/python -m bench.api [--sizes 1000,100000,1000000] [--requests 200]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from fastapi import FastAPI

from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.people import invent_people
from gateway.api.app import create_app
from gateway.api.responses import FhirJSONResponse
from gateway.policy import ReleaseAllEngine
from gateway.services import Gateway, build_gateway
from gateway.store.tables import ResourceRow
from gateway.testing import auth_headers, settings_for


class _Fixed:
    """A policy holder that always answers with one engine (the release-all baseline)."""

    def __init__(self, engine: object) -> None:
        self.engine = engine


def _timed(call: Callable[[], httpx.Response], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        response = call()
        samples.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text[:300]
    return samples


def _client(app: FastAPI) -> httpx.Client:
    from starlette.testclient import TestClient

    return TestClient(app)


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
    batch: list[dict] = []
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp), args.database_url, audit_checkpoint_every=1000)
        gw = build_gateway(settings)
        patient_id, practice, size = load_record(gw, extra_items=170)
        headers = auth_headers(settings, "gp", practice)
        url = f"/fhir/Patient/{patient_id}/$everything"
        full = _client(create_app(gw))
        baseline_gw = Gateway(**{**gw.__dict__, "policies": _Fixed(ReleaseAllEngine(gw.policies.engine))})
        release_all = _client(create_app(baseline_gw))
        body = full.get(url, headers=headers).json()
        bare_app = FastAPI()
        bare_app.get("/bare")(lambda: FhirJSONResponse(body))
        bare = _client(bare_app)
        n = args.requests
        for client, target in ((full, url), (release_all, url), (bare, "/bare")):  # warm up
            _timed(lambda: client.get(target, headers=headers), 10)
        t_full = statistics.median(_timed(lambda: full.get(url, headers=headers), n))
        t_all = statistics.median(_timed(lambda: release_all.get(url, headers=headers), n))
        print(f"(a) $everything of {size} resources ({len(body.get('entry', []))} entries): "
              f"full {t_full * 1000:.2f} ms, release-all {t_all * 1000:.2f} ms, ratio {t_full / t_all:.2f} "
              f"(target ≤ 1.25)")
        start = time.perf_counter()
        _timed(lambda: full.get(url, headers=headers), n)
        rps_full = n / (time.perf_counter() - start)
        start = time.perf_counter()
        _timed(lambda: bare.get("/bare"), n)
        rps_bare = n / (time.perf_counter() - start)
        print(f"(b) requests/s: full path {rps_full:.0f}, bare FastAPI route {rps_bare:.0f}, "
              f"ratio {rps_full / rps_bare:.2f} (target ≥ 0.5)")
        print("(c) $everything latency as the store grows:")
        first = None
        for total in [int(s) for s in args.sizes.split(",")]:
            pad_store(gw, total)
            t = statistics.median(_timed(lambda: full.get(url, headers=headers), max(20, n // 5)))
            first = first or t
            print(f"    {gw.store.count():>9} stored resources: {t * 1000:.2f} ms (×{t / first:.2f} of the first)")
        gw.close()


if __name__ == "__main__":
    main()
