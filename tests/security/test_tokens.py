"""Attack table, tokens: issuer, audience, development keys and tokens in production, claim types,
and a token's patient scope (whatever the role)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import jwt
import pytest

from gateway.api.app import create_app
from gateway.auth import AuthError, TokenVerifier, mint_token, sign_token
from gateway.testing import auth_headers, initialised_settings, settings_for
from gateway.wiring import build_gateway
from tests.security.conftest import NHS, Two


def _signed(settings, **claims) -> str:  # type: ignore[no-untyped-def]
    """A token signed with the gateway's own signing key, with exactly these claims."""
    jwk = json.loads(Path(settings.signing_jwks).read_text())["keys"][0]
    base = {"sub": "u", "role": "gp", "org": "P81001", "purpose_of_use": "direct_care",
            "iss": settings.token_issuer, "aud": settings.token_audience, "exp": int(time.time()) + 60}
    body = {k: v for k, v in (base | claims).items() if v is not None}
    return jwt.encode(body, jwt.PyJWK.from_dict(jwk).key, algorithm="ES256", headers={"kid": jwk["kid"]})


@pytest.fixture
def dev_settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = initialised_settings(tmp_path)
    mint_token(settings, user="u", role="gp", org="P81001", purpose="direct_care")  # creates the dev keys
    return settings


@pytest.mark.parametrize("claims, why", [
    ({"iss": "https://evil.example"}, "Invalid issuer"),
    ({"iss": None}, "iss"),
    ({"aud": None}, "aud"),
    ({"aud": "another-service"}, "(?i)audience"),
])
def test_issuer_and_audience_are_required_and_bound(dev_settings, claims, why) -> None:  # type: ignore[no-untyped-def]
    # Signed with the gateway's own key: only the claims are wrong.
    with pytest.raises(AuthError, match=why):
        TokenVerifier(dev_settings).verify(_signed(dev_settings, **claims))


def test_a_configured_second_issuer_is_accepted(dev_settings) -> None:  # type: ignore[no-untyped-def]
    dev_settings.trusted_issuers = ["https://cis2.example"]
    assert TokenVerifier(dev_settings).verify(_signed(dev_settings, iss="https://cis2.example")).user == "u"


@pytest.mark.parametrize("claim, value", [("role", ["gp", "auditor"]), ("org", {"ods": "P81001"}),
                                          ("patient", 9434765919)])
def test_claims_of_the_wrong_type_are_refused(dev_settings, claim, value) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AuthError, match="must be strings"):
        TokenVerifier(dev_settings).verify(_signed(dev_settings, **{claim: value}))


def test_production_refuses_development_tokens_and_keys(dev_settings) -> None:  # type: ignore[no-untyped-def]
    dev_token = mint_token(dev_settings, user="u", role="gp", org="P81001", purpose="direct_care")
    unmarked = _signed(dev_settings)  # no development claim, but signed by the development key
    production = dev_settings.model_copy(update={"production": True})
    verifier = TokenVerifier(production)
    for token in (dev_token, unmarked):
        with pytest.raises(AuthError, match="development"):
            verifier.verify(token)
    # ... and it will not sign with a development key either (the SMART token endpoint).
    with pytest.raises(AuthError, match="production key"):
        sign_token(production, user="c", role="gp", org="P81001", purpose="direct_care")


async def test_a_production_server_answers_401_to_a_development_token(tmp_path: Path) -> None:
    dev = initialised_settings(tmp_path)
    token = mint_token(dev, user="u", role="gp", org="P81001", purpose="direct_care")
    gw = build_gateway(dev.model_copy(update={"production": True}))
    try:
        transport = httpx.ASGITransport(app=create_app(gw))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/fhir/Patient?identifier=9434765919",
                                        headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, response.text
        assert response.json()["resourceType"] == "OperationOutcome"
        assert "development" in response.json()["issue"][0]["diagnostics"]
    finally:
        gw.close()


def test_production_keys_from_gateway_init_are_accepted(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from gateway.auth import PROD_KID_PREFIX, create_signing_key

    production = settings_for(tmp_path, production=True)
    assert create_signing_key(production, PROD_KID_PREFIX)
    token = sign_token(production, user="c", role="gp", org="P81001", purpose="direct_care")
    assert jwt.get_unverified_header(token)["kid"].startswith("gw-")
    assert TokenVerifier(production).verify(token).user == "c"


# -- patient scope ---------------------------------------------------------------------------------
def _scoped(gateway, person, role="gp", org=None) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return auth_headers(gateway.settings, role, org or person.practice_ods, patient=person.nhs_number)


@pytest.mark.parametrize("ask", [
    "/fhir/Patient/{other_id}",
    "/fhir/Patient/{other_id}/$everything",
    "/fhir/Condition?patient={other_id}",
    "/fhir/Condition?subject=Patient/{other_id}",
    "/fhir/Observation?patient={my_id},{other_id}",
    "/fhir/Patient?identifier=" + NHS + "|{other_nhs}",
    "/fhir/Patient?_id={other_id}",
    "/fhir/Patient",
])
async def test_a_clinician_token_scoped_to_a_patient_cannot_read_another(client, gateway, two: Two, ask) -> None:  # type: ignore[no-untyped-def]
    url = ask.format(other_id=two.other.patient_id, my_id=two.me.patient_id, other_nhs=two.other.person.nhs_number)
    response = await client.get(url, headers=_scoped(gateway, two.me.person))
    assert response.status_code == 403, (url, response.status_code, response.text[:300])
    assert response.json()["resourceType"] == "OperationOutcome"
    assert two.other.person.family not in response.text


async def test_a_scoped_clinician_token_still_reads_its_own_patient(client, gateway, two: Two) -> None:  # type: ignore[no-untyped-def]
    headers = _scoped(gateway, two.me.person)
    mine = await client.get(f"/fhir/Patient/{two.me.patient_id}", headers=headers)
    assert mine.status_code == 200, mine.text
    by_number = await client.get(f"/fhir/Patient?identifier={NHS}|{two.me.person.nhs_number}", headers=headers)
    assert by_number.status_code == 200 and by_number.json()["total"] == 1


async def test_the_scope_refusal_does_not_reveal_whether_the_other_person_exists(client, gateway, two: Two) -> None:  # type: ignore[no-untyped-def]
    headers = _scoped(gateway, two.me.person)
    real = await client.get(f"/fhir/Patient/{two.other.patient_id}", headers=headers)
    invented = await client.get("/fhir/Patient/00000000-0000-0000-0000-000000000000", headers=headers)
    assert (real.status_code, real.json()) == (invented.status_code, invented.json())


async def test_a_scoped_token_is_refused_on_post_search_for_another(client, gateway, two: Two) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/fhir/Condition/_search", data={"patient": two.other.patient_id},
                                 headers=_scoped(gateway, two.me.person))
    assert response.status_code == 403, response.text


# -- reads of one item by id, and searches that name no patient ------------------------------------
@pytest.mark.parametrize("ask", ["/fhir/{type}/{rid}", "/fhir/{type}?_id={rid}", "/fhir/{type}/{rid}/_history",
                                 "/fhir/{type}/{rid}/_history/1"])
async def test_a_scoped_token_cannot_read_another_patients_item_by_its_id(client, gateway, two: Two, ask) -> None:  # type: ignore[no-untyped-def]
    item = next(s for s in gateway.store.compartment(two.other.patient_id) if s.resource_type == "Condition")
    response = await client.get(ask.format(type="Condition", rid=item.id), headers=_scoped(gateway, two.me.person))
    if response.status_code in (403, 404):
        return
    body = response.json()
    shown = [e for e in body.get("entry") or [] if (e.get("resource") or {}).get("id") == item.id]
    assert response.status_code == 200 and body.get("resourceType") == "Bundle" and not shown, response.text[:300]


async def test_another_patients_item_is_answered_like_a_missing_one(client, gateway, two: Two) -> None:  # type: ignore[no-untyped-def]
    item = next(s for s in gateway.store.compartment(two.other.patient_id) if s.resource_type == "Condition")
    headers = _scoped(gateway, two.me.person)
    for suffix in ("", "/_history", "/_history/1"):
        real = await client.get(f"/fhir/Condition/{item.id}{suffix}", headers=headers)
        fake = await client.get(f"/fhir/Condition/{'0' * 8}-0000-0000-0000-{'0' * 12}{suffix}", headers=headers)
        assert real.status_code == fake.status_code == 404
        assert real.json()["issue"][0]["diagnostics"].replace(item.id, "X") == \
            fake.json()["issue"][0]["diagnostics"].replace("00000000-0000-0000-0000-000000000000", "X")


async def test_a_scoped_token_still_reads_its_own_items_by_id(client, gateway, two: Two) -> None:  # type: ignore[no-untyped-def]
    item = next(s for s in gateway.store.compartment(two.me.patient_id) if s.resource_type == "Condition")
    response = await client.get(f"/fhir/Condition/{item.id}", headers=_scoped(gateway, two.me.person))
    assert response.status_code in (200, 403, 404)  # the policy decides; the scope does not refuse it
    if response.status_code != 200:
        assert "scoped" not in response.text
