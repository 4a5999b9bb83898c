"""A gateway over the demo corpus (every source format, several invented people), for the disclosure tests."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from adapters.synthetic.people import Person, invent_people
from gateway.api.app import create_app
from gateway.demo import prepare_demo
from gateway.policy import PolicyHolder
from gateway.settings import Settings
from gateway.testing import auth_headers
from gateway.wiring import Gateway, build_gateway

PEOPLE = 6


@dataclass
class Demo:
    gateway: Gateway
    settings: Settings
    client: TestClient
    people: list[Person]
    shipped: Path  # the shipped policy directory

    def patient_id(self, person: Person) -> str:
        [patient] = self.gateway.store.find_by_identifier("Patient", "https://fhir.nhs.uk/Id/nhs-number",
                                                          person.nhs_number)
        return patient.id

    def headers(self, role: str, org: str, purpose: str = "direct_care", **claims: str) -> dict[str, str]:
        return auth_headers(self.settings, role, org, purpose, **claims)

    def everything(self, person: Person, role: str, org: str, purpose: str = "direct_care",
                   **claims: str) -> dict:
        response = self.client.get(f"/fhir/Patient/{self.patient_id(person)}/$everything",
                                   headers=self.headers(role, org, purpose, **claims))
        assert response.status_code == 200, response.text
        return response.json()

    def use_policy(self, directory: Path) -> None:
        holder = PolicyHolder(directory)
        self.gateway.policies = self.gateway.disclosure.policies = holder


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    settings, _ = prepare_demo(Path(tmp_path_factory.mktemp("disclosure")) / "demo", people=PEOPLE, port=8080)
    gw = build_gateway(settings, run_migrations=False)
    with TestClient(create_app(gw)) as client:
        yield Demo(gw, settings, client, invent_people(PEOPLE, seed=7), gw.policies.directory)
    gw.close()


@pytest.fixture
def policy_copy(demo: Demo, tmp_path: Path) -> Iterator[Path]:
    """A copy of the shipped pack the test may edit and put live; the shipped one is restored after."""
    target = tmp_path / "policies"
    shutil.copytree(demo.shipped, target)
    yield target
    demo.use_policy(demo.shipped)


def entries(bundle: dict, mode: str = "match") -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", ()) if e["search"]["mode"] == mode]


def notice_texts(bundle: dict) -> list[str]:
    return [i["details"]["text"] for o in entries(bundle, "outcome") for i in o["issue"]]
