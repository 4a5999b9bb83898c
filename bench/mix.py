"""A mixed workload of the gateway's real callers, for the soak and the fault suite.

Clinicians read, search and ask for ``$everything``; source systems push their exports; an IG officer
simulates the policy — each with the role and organisation that may do it, so that every answer is a
decision the gateway really makes (and audits), not a refusal. :func:`drive` runs the mix from threads
of keep-alive clients against a served gateway and hands every answer (or transport error) to a callback.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson

from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.people import Person, invent_people
from gateway.settings import Settings
from gateway.testing import auth_headers
from gateway.wiring import build_gateway

NHS = "https://fhir.nhs.uk/Id/nhs-number"
KINDS = ("read", "search", "lookup", "everything", "everything", "read", "search", "ingest", "simulate")


@dataclass(frozen=True)
class Target:
    person: Person
    patient_id: str
    bundle: bytes  # the person's GP Connect export, as their practice pushes it


@dataclass(frozen=True)
class Request:
    kind: str
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None
    json: dict[str, object] | None = None


@dataclass(frozen=True)
class Answer:
    request: Request
    status: int  # 0: no answer (transport error)
    content_type: str = ""
    audit_seq: str | None = None
    error: str | None = None
    body: bytes = b""


def unloaded(people: list[Person]) -> list[Target]:
    """People whose exports are still to be pushed (no patient id yet)."""
    return [Target(p, "", orjson.dumps(gp_connect_bundle(p))) for p in people]


def load_people(settings: Settings, count: int, seed: int = 11) -> list[Target]:
    """``count`` invented people's GP records ingested (in this process) into the database of ``settings``."""
    gw = build_gateway(settings)
    try:
        targets = []
        for person in invent_people(count, seed=seed):
            bundle = orjson.dumps(gp_connect_bundle(person))
            summary = gw.ingestor.ingest_bytes("gp-connect", bundle, f"{person.index}.json")
            if summary.quarantined or summary.held_for_review:
                raise RuntimeError(f"the synthetic record of person {person.index} did not load: {summary.problems}")
            [patient] = gw.store.find_by_identifier("Patient", NHS, person.nhs_number)
            targets.append(Target(person, patient.id, bundle))
        return targets
    finally:
        gw.close()


class Mix:
    """The ``n``-th request of the mix (deterministic: the same ``n`` is the same request). Tokens are
    minted once per (role, organisation) and reused, as a real client reuses its token. ``pushes``: the
    exports the sources push (default: those of ``targets``, already stored, so that the store stays
    the same size however long the run)."""

    def __init__(self, settings: Settings, targets: list[Target], kinds: tuple[str, ...] = KINDS,
                 pushes: list[Target] | None = None) -> None:
        self.settings = settings
        self.targets = targets
        self.pushes = pushes or targets
        self.kinds = kinds
        self._tokens: dict[tuple[str, str], dict[str, str]] = {}
        self._lock = threading.Lock()

    def _auth(self, role: str, org: str) -> dict[str, str]:
        with self._lock:
            if (role, org) not in self._tokens:
                self._tokens[role, org] = auth_headers(self.settings, role, org)
            return self._tokens[role, org]

    def request(self, n: int, request_id: str) -> Request:
        kind = self.kinds[n % len(self.kinds)]
        target = self.targets[(n // len(self.kinds)) % len(self.targets)]
        person, pid = target.person, target.patient_id
        gp = {**self._auth("gp", person.practice_ods), "X-Request-ID": request_id}
        if kind == "read":
            return Request(kind, "GET", f"/fhir/Patient/{pid}", gp)
        if kind == "search":
            return Request(kind, "GET", f"/fhir/Condition?patient={pid}&_count=20", gp)
        if kind == "lookup":
            return Request(kind, "GET", f"/fhir/Patient?identifier={NHS}|{person.nhs_number}", gp)
        if kind == "everything":
            return Request(kind, "GET", f"/fhir/Patient/{pid}/$everything", gp)
        if kind == "ingest":
            pushed = self.pushes[(n // len(self.kinds)) % len(self.pushes)]
            source = {**self._auth("source", pushed.person.practice_ods), "X-Request-ID": request_id}
            return Request(kind, "POST", "/ingest/gp-connect", source, body=pushed.bundle)
        if kind == "simulate":
            ig = {**self._auth("ig_officer", "X26"), "X-Request-ID": request_id}
            return Request(kind, "POST", "/policy/simulate", ig, json={
                "role": "receptionist", "purpose": "direct_care", "org": person.practice_ods,
                "nhs_number": person.nhs_number})
        raise ValueError(f"unknown kind {kind!r}")


def send(client: httpx.Client, request: Request) -> Answer:
    try:
        response = client.request(request.method, request.url, headers=request.headers, content=request.body,
                                  json=request.json)
    except httpx.HTTPError as exc:
        return Answer(request, 0, error=f"{type(exc).__name__}: {exc}")
    return Answer(request, response.status_code, response.headers.get("content-type", ""),
                  response.headers.get("x-audit-sequence"), body=response.content)


def drive(base_url: str, mix: Mix, clients: int, stop: threading.Event, on_answer: Callable[[Answer], None],
          timeout: float = 30) -> list[threading.Thread]:
    """``clients`` threads sending the mix until ``stop`` is set (started; join them). Request ids are
    ``c<client>-<n>``: unique, so an answer can be matched to its audit record."""

    def run(worker: int) -> None:
        with httpx.Client(base_url=base_url, timeout=timeout) as client:
            n = worker
            while not stop.is_set():
                on_answer(send(client, mix.request(n, f"c{worker}-{n}")))
                n += clients

    threads = [threading.Thread(target=run, args=(i,), name=f"mix-{i}", daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    return threads
