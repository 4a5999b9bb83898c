"""Schema-driven requests against the app's own OpenAPI document (schemathesis).

Every operation gets generated requests — valid and invalid by its schema — with a caller allowed to
reach it, and each answer must: not be a 5xx, have a status the document declares, a declared media
type, and a body matching the declared schema (an OperationOutcome for every error). CI runs a
bounded budget; ``GATEWAY_FUZZ_EXAMPLES=2000 pytest tests/security/test_schemathesis.py`` runs longer.
"""
from __future__ import annotations

import os

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.people import invent_people
from gateway.api.app import create_app
from gateway.testing import auth_headers

EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "150"))
SEEN: list = []
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _caller(gateway, path: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    role = ("auditor" if path.startswith("/audit") else "ig_officer" if path.startswith("/policy") else
            "source" if path.startswith("/ingest") else "gp")
    return auth_headers(gateway.settings, role, "P81001" if role == "gp" else "X26")


@pytest.fixture
def api(gateway):  # type: ignore[no-untyped-def]
    person = next(p for p in invent_people(8, seed=3) if p.conditions)
    gateway.ingestor.ingest_bytes("gp-connect", orjson.dumps(gp_connect_bundle(person)), "fuzz.json")
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(gateway))


def test_the_document_declares_an_operation_outcome_for_every_error(api) -> None:  # type: ignore[no-untyped-def]
    raw = api.raw_schema
    assert "OperationOutcome" in raw["components"]["schemas"]
    for path, methods in raw["paths"].items():
        for method, operation in methods.items():
            statuses = operation["responses"]
            assert "200" in statuses and statuses["200"].get("content"), (method, path)
            for status in ("400", "401", "403", "404", "500", "503"):
                assert status in statuses, (method, path, status)
            if path.startswith("/auth/"):
                continue  # RFC 6749 §5.2 error objects, declared as such
            schema = statuses["400"]["content"]["application/fhir+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/OperationOutcome"}, (method, path)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_get_declared_answers(api, gateway, mode, database_url) -> None:  # type: ignore[no-untyped-def]
    if database_url.startswith("postgresql") and EXAMPLES < 500:
        pytest.skip("the bounded CI budget runs on SQLite; set GATEWAY_FUZZ_EXAMPLES to run it on PostgreSQL too")

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=api.as_strategy(generation_mode=mode))
    def run(case) -> None:  # type: ignore[no-untyped-def]
        headers = _caller(gateway, case.path)
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)
        SEEN.append((case.method, case.path, response.status_code))

    run()


def teardown_module() -> None:
    if os.environ.get("GATEWAY_FUZZ_REPORT"):
        from collections import Counter

        for (method, path, status), n in sorted(Counter(SEEN).items()):
            print(f"{n:5d} {status} {method} {path}")
