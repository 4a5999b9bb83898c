"""A client's mistake is never a 500: random search parameters, paths and headers get 4xx or 2xx."""
from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from gateway.settings import Settings
from gateway.store import search_params
from gateway.testing import auth_headers
from tests.api.conftest import Loaded
from tests.hypothesis_profiles import examples

NAMES = st.sampled_from(["_id", "identifier", "patient", "subject", "date", "_lastUpdated", "code", "category",
                         "status", "_count", "_offset", "_sort", "_summary", "_elements", "_include",
                         "_revinclude", "_format", "_since", "birthdate", "gender"]) | st.text(min_size=1, max_size=12)
VALUES = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"(eq|ne|lt|le|gt|ge)?[0-9]{1,4}(-[0-9]{1,2}){0,2}(T[0-9:]{1,8})?(Z|[+-][0-9]{2}:[0-9]{2})?",
                  fullmatch=True),
    st.from_regex(r"[a-z:/.]{0,20}\|[A-Za-z0-9]{0,10}", fullmatch=True),
    st.integers(-5, 5000).map(str),
)
TYPES = st.sampled_from([*search_params.SEARCHABLE_TYPES, "Nonsense", "patient", ""])
ACCEPT = st.sampled_from(["application/fhir+json", "application/fhir+xml", "text/html", "*/*", "", "application/*"])


@hsettings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(resource_type=TYPES, params=st.lists(st.tuples(NAMES, VALUES), max_size=5), accept=ACCEPT,
       strict=st.booleans())
async def test_search_never_500(client: httpx.AsyncClient, settings: Settings, loaded: Loaded, resource_type: str,
                                params: list[tuple[str, str]], accept: str, strict: bool) -> None:
    headers = {**auth_headers(settings, "gp", loaded.person.practice_ods), "Accept": accept}
    if strict:
        headers["Prefer"] = "handling=strict"
    response = await client.get(f"/fhir/{resource_type}", params=params + [("patient", loaded.patient_id)],
                                headers=headers)
    assert response.status_code < 500, (response.status_code, response.text[:500])


@hsettings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=40),
       authorization=st.sampled_from(["", "Bearer", "Bearer x.y.z", "Basic Zm9vOmJhcg==", "Bearer " + "a" * 500]))
async def test_odd_paths_and_tokens_never_500(client: httpx.AsyncClient, settings: Settings, loaded: Loaded,
                                              path: str, authorization: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.get("/fhir/" + path.replace("?", "").replace("#", ""), headers=headers)
    assert response.status_code < 500, (response.status_code, response.text[:500])
    everything = await client.get(f"/fhir/Patient/{loaded.patient_id}/$everything",
                                  params={"_count": path[:5] or "x", "_since": path[:10] or "y"},
                                  headers=auth_headers(settings, "gp", loaded.person.practice_ods))
    assert everything.status_code < 500, (everything.status_code, everything.text[:500])


@hsettings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(format=st.sampled_from(["gp-connect", "hl7v2", "social-care", "cld", "opt-out"]),
       body=st.binary(max_size=2000) | st.text(max_size=500).map(str.encode))
async def test_hostile_ingest_bodies_never_500(client: httpx.AsyncClient, settings: Settings, format: str,
                                               body: bytes) -> None:
    response = await client.post(f"/ingest/{format}", content=body, headers=auth_headers(settings, "source", "X1"))
    assert response.status_code < 500, (response.status_code, response.text[:500])
