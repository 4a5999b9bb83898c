"""Attack table, /policy and /audit: authentication before anything of the request is read, and
out-of-range numbers as 4xx OperationOutcomes."""
from __future__ import annotations

import pytest

from gateway.testing import auth_headers

ANONYMOUS_PROBES = [
    ("POST", "/policy/explain", b"{not json"),
    ("POST", "/policy/explain", b'{"role": 1}'),
    ("POST", "/policy/simulate", b'{"role": "gp"}'),
    ("POST", "/policy/diff", b"[]"),
    ("POST", "/audit/review/1", b"{"),
    ("POST", "/audit/review/not-a-number", b'{"comment": "x"}'),
    ("POST", "/audit/review/99999999999999999999999", b"{}"),
    ("GET", "/audit/records?offset=-1", b""),
]


@pytest.mark.parametrize("method, path, body", ANONYMOUS_PROBES)
async def test_admin_surfaces_answer_401_before_looking_at_the_request(client, method, path, body) -> None:  # type: ignore[no-untyped-def]
    response = await client.request(method, path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 401, (path, response.status_code, response.text)
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("method, path, role", [("POST", "/policy/explain", "auditor"),
                                                ("POST", "/audit/review/1", "ig_officer"),
                                                ("POST", "/policy/explain", "gp")])
async def test_the_wrong_capability_is_refused_before_the_body_is_validated(  # type: ignore[no-untyped-def]
        client, gateway, method, path, role) -> None:
    response = await client.request(method, path, content=b"{broken",
                                    headers={**auth_headers(gateway.settings, role, "X26"),
                                             "content-type": "application/json"})
    assert response.status_code == 403, response.text


@pytest.mark.parametrize("path, body", [
    ("/audit/review/99999999999999999999999", b'{"comment": "ok"}'),
    ("/audit/review/9223372036854775808", b'{"comment": "ok"}'),
    ("/audit/review/0", b'{"comment": "ok"}'),
])
async def test_out_of_range_sequence_numbers_are_a_400(client, gateway, path, body) -> None:  # type: ignore[no-untyped-def]
    response = await client.post(path, content=body, headers={**auth_headers(gateway.settings, "auditor", "X26"),
                                                               "content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("query", ["offset=99999999999999999999999", "limit=99999999999999999999999999",
                                   "offset=9223372036854775808"])
async def test_out_of_range_paging_is_a_400(client, gateway, query) -> None:  # type: ignore[no-untyped-def]
    response = await client.get(f"/audit/records?{query}", headers=auth_headers(gateway.settings, "auditor", "X26"))
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


async def test_an_authorised_body_error_is_still_a_400_operation_outcome(client, gateway) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/policy/explain", content=b'{"role": "gp"}',
                                 headers={**auth_headers(gateway.settings, "ig_officer", "X26"),
                                          "content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert "purpose" in response.json()["issue"][0]["diagnostics"]


# -- /policy/simulate shows record content only with a stated reason ---------------------------------
async def test_simulate_shows_ids_categories_effects_and_rules_by_default(client, gateway, loaded) -> None:  # type: ignore[no-untyped-def]
    ig = auth_headers(gateway.settings, "ig_officer", "X26", user="IG-1")
    query = {"role": "gp", "purpose": "direct_care", "org": loaded.person.practice_ods,
             "nhs_number": loaded.person.nhs_number}
    summary = await client.post("/policy/simulate", headers=ig, json=query)
    assert summary.status_code == 200, summary.text
    body = summary.json()
    assert body["items"] and {"ref", "effect", "categories", "rule_ids"} <= set(body["items"][0])
    assert loaded.person.family not in summary.text and loaded.person.given not in summary.text
    assert not any(f"\"{code}\"" in summary.text for code in loaded.person.conditions)  # no clinical codes
    no_reason = await client.post("/policy/simulate", headers=ig, json=query | {"show_content": True})
    assert no_reason.status_code == 400
    content = await client.post("/policy/simulate", headers=ig,
                                json=query | {"show_content": True, "reason": "IG case 12: GP view check"})
    assert content.status_code == 200 and loaded.person.family in content.text
    record = gateway.audit.entry(int(content.headers["x-audit-sequence"])).record
    assert record["reason"] == "IG case 12: GP view check" and "audit_level:high" in record["obligations"]
    assert record["requester"]["user"] == "IG-1"
