"""NUL characters in JSON bodies and form fields: PostgreSQL text cannot hold them, so anything that
reaches a query with one must be refused as a client error first — never a 500."""
from __future__ import annotations

import pytest

from gateway.testing import auth_headers


@pytest.mark.parametrize("role, path, body", [
    ("ig_officer", "/policy/simulate", {"role": "gp", "purpose": "direct_care", "org": "P81001",
                                        "nhs_number": "943\u00004765919"}),
    ("ig_officer", "/policy/explain", {"role": "g\u0000p", "purpose": "direct_care", "category": "clinical_summary"}),
    ("auditor", "/audit/review/1", {"comment": "looked at it\u0000"}),
])
async def test_nul_in_a_json_body_is_a_4xx(client, gateway, role, path, body) -> None:  # type: ignore[no-untyped-def]
    response = await client.post(path, json=body, headers=auth_headers(gateway.settings, role, "X26"))
    assert response.status_code < 500, response.text[:300]
    assert response.json().get("resourceType") == "OperationOutcome" or response.status_code == 200


async def test_nul_in_a_search_form_is_a_4xx(client, gateway) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/fhir/Patient/_search", data={"identifier": "9434765919\u0000"},
                                 headers=auth_headers(gateway.settings, "gp", "P81001"))
    assert response.status_code < 500, response.text[:300]


async def test_nul_in_a_pushed_export_is_quarantined_not_a_500(client, gateway) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/ingest/gp-connect", content=b'{"resourceType": "Bundle\\u0000", "entry": []}',
                                 headers=auth_headers(gateway.settings, "source", "X1"))
    assert response.status_code < 500, response.text[:300]
