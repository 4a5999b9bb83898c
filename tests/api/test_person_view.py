"""The person's own view over HTTP: sharing choices recorded through the API and honoured on the very
next request, the national data opt-out, and the person's access history decided through the policy."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.base import NHS_NUMBER_SYSTEM, ODS_SYSTEM
from adapters.conventions import CONSENT_POLICY, DATA_CATEGORY
from adapters.synthetic.people import Person, invent_people
from gateway.demo import write_sources
from gateway.ingest.pipeline import read_files
from gateway.policy import PolicyHolder
from gateway.settings import Settings
from gateway.testing import auth_headers
from gateway.wiring import Gateway

SEED, PEOPLE = 7, 8
SOURCES = ("gp-connect", "hl7v2", "social-care")
FHIR_JSON = {"Content-Type": "application/fhir+json"}


@dataclass
class Record:
    gateway: Gateway
    settings: Settings
    people: list[Person]
    data: Path

    def patient_id(self, person: Person) -> str:
        [patient] = self.gateway.store.find_by_identifier("Patient", NHS_NUMBER_SYSTEM, person.nhs_number)
        return patient.id

    def person(self, index: int) -> Person:
        return self.people[index]

    def as_person(self, person: Person) -> dict[str, str]:
        return auth_headers(self.settings, "patient", "NHS-LOGIN", "patient_request", patient=person.nhs_number,
                            user=f"nhs-login-{person.index}", name=f"{person.given} {person.family}")

    def staff(self, role: str, org: str, purpose: str = "direct_care", **claims: str) -> dict[str, str]:
        return auth_headers(self.settings, role, org, purpose, **claims)

    def ingest_social_care(self) -> None:
        files = next(files for fmt, files in write_sources(self.data / "again", PEOPLE, seed=SEED)
                     if fmt == "social-care")
        self.gateway.ingestor.ingest_files("social-care", read_files(files))


@pytest.fixture
def record(gateway: Gateway, settings: Settings, tmp_path: Path) -> Record:
    """Several invented people's GP, community-nursing and council records, through the real adapters."""
    for fmt, files in write_sources(tmp_path / "data", PEOPLE, seed=SEED):
        if fmt in SOURCES:
            summary = gateway.ingestor.ingest_files(fmt, read_files(files))
            assert summary.quarantined == 0, summary.problems
    return Record(gateway, settings, invent_people(PEOPLE, seed=SEED), tmp_path / "data")


def objection(patient_id: str, *, categories: tuple[str, ...] = (), orgs: tuple[str, ...] = (),
              status: str = "active", period: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    provision: dict[str, Any] = {"type": "deny"}
    if categories:
        provision["securityLabel"] = [{"system": DATA_CATEGORY, "code": c} for c in categories]
    if orgs:
        provision["actor"] = [{"role": {"coding": [{"code": "IRCP"}]},
                               "reference": {"identifier": {"system": ODS_SYSTEM, "value": o}}} for o in orgs]
    if period:
        provision["period"] = period
    return {"resourceType": "Consent", "status": status, "scope": {"coding": [{"code": "patient-privacy"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": f"Patient/{patient_id}"},
            "policyRule": {"coding": [{"system": CONSENT_POLICY, "code": "sharing-preference"}]},
            "provision": provision, **extra}


def opt_out(patient_id: str, opted_out: bool) -> dict[str, Any]:
    return {"resourceType": "Consent", "status": "active", "patient": {"reference": f"Patient/{patient_id}"},
            "policyRule": {"coding": [{"system": CONSENT_POLICY, "code": "national-data-opt-out"}]},
            "provision": {"type": "deny" if opted_out else "permit"}}


def outcome_texts(bundle: dict[str, Any]) -> list[str]:
    return [i["details"]["text"] for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"
            for i in e["resource"]["issue"]]


def matched(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def audit_record(gateway: Gateway, response: httpx.Response) -> dict[str, Any]:
    entry = gateway.audit.entry(int(response.headers["x-audit-sequence"]))
    assert entry is not None
    return entry.record


def rule_ids(record: dict[str, Any], bucket: str, category: str) -> set[str]:
    return {r for i in record["items"][bucket] if category in i["categories"] for r in i["rule_ids"]}


def events(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    return [e["resource"] for e in bundle.get("entry", [])]


def user_agent(event: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in event["agent"] if a.get("requestor"))


def categories_of(event: dict[str, Any], treatment: str) -> list[str]:
    return [d["valueString"] for e in event["entity"] if e.get("name") == treatment for d in e["detail"]]


# -- the acceptance scenario --------------------------------------------------------------------------

async def test_objection_through_the_api_then_emergency_override_and_the_history_shows_both(
        client: httpx.AsyncClient, record: Record) -> None:
    person = record.person(0)  # district nursing RX1 (team DN-GOR) is in the care team
    pid = record.patient_id(person)
    nurse = record.staff("district_nurse", "RX1", team="DN-GOR", name="Ciara Walsh")
    before = (await client.get(f"/fhir/Patient/{pid}/$everything", headers=nurse)).json()
    assert any(r["resourceType"] == "Condition" for r in matched(before))

    # The person objects to the community trust seeing their clinical summary.
    posted = await client.post("/fhir/Consent", json=objection(pid, categories=("clinical_summary",), orgs=("RX1",)),
                               headers={**record.as_person(person), **FHIR_JSON})
    assert posted.status_code == 201, posted.text
    consent = posted.json()
    assert consent["meta"]["versionId"] == "1" and posted.headers["location"].endswith(
        f"/fhir/Consent/{consent['id']}/_history/1")
    written = audit_record(record.gateway, posted)
    assert written["outcome"] == "recorded" and written["items"]["recorded"][0]["ref"] == f"Consent/{consent['id']}"
    provenance = [p for p in record.gateway.store.search("Provenance", patient_ids=[pid])
                  if p.content["target"] == [{"reference": f"Consent/{consent['id']}"}]]
    assert len(provenance) == 1 and provenance[0].content["agent"][0]["who"]["reference"] == f"Patient/{pid}"

    # The very next request from that organisation: the category is withheld, the notice says why.
    after = await client.get(f"/fhir/Patient/{pid}/$everything", headers=nurse)
    bundle = after.json()
    assert not any(r["resourceType"] == "Condition" for r in matched(bundle))
    assert any("clinical_summary" in t and "objection" in t for t in outcome_texts(bundle)), outcome_texts(bundle)
    assert "r4.objection" in rule_ids(audit_record(record.gateway, after), "noticed", "clinical_summary")
    # ...and only from that organisation: the GP practice still receives it.
    gp = (await client.get(f"/fhir/Patient/{pid}/$everything", headers=record.staff("gp", person.practice_ods))).json()
    assert any(r["resourceType"] == "Condition" for r in matched(gp))

    # Emergency access overrides the objection, and lands on the review queue.
    emergency = await client.get(f"/fhir/Patient/{pid}/$everything", headers=record.staff(
        "district_nurse", "RX1", "emergency", team="DN-GOR", name="Ciara Walsh",
        justification="Found collapsed at home; need medications and allergies"))
    assert emergency.status_code == 200
    assert any(r["resourceType"] == "Condition" for r in matched(emergency.json()))
    seq = int(emergency.headers["x-audit-sequence"])
    assert seq in {e.seq for e in record.gateway.audit.review_queue()}

    # The person's access history shows both disclosures, the objection recorded, and the break-glass reason.
    history = await client.get("/fhir/AuditEvent", params={"patient": f"Patient/{pid}"},
                               headers=record.as_person(person))
    assert history.status_code == 200, history.text
    shown = events(history.json())
    by_id = {e["id"]: e for e in shown}
    normal, broke = by_id[f"audit-{after.headers['x-audit-sequence']}"], by_id[f"audit-{seq}"]
    for event in (normal, broke):
        assert event["meta"]["profile"][0].endswith("IHE.BasicAudit.PatientQuery")
        assert event["entity"][0]["what"] == {"reference": f"Patient/{pid}",
                                              "identifier": {"system": NHS_NUMBER_SYSTEM, "value": person.nhs_number}}
        org = next(a for a in event["agent"] if a["who"].get("identifier", {}).get("system") == ODS_SYSTEM)
        assert org["who"]["identifier"]["value"] == "RX1"
        assert user_agent(event)["who"]["display"] == "Ciara Walsh"
        assert user_agent(event)["role"][0]["coding"][0]["code"] == "district_nurse"
    assert "clinical_summary" in categories_of(normal, "withheld")
    assert "clinical_summary" in categories_of(broke, "released")
    assert user_agent(broke)["purposeOfUse"][0]["text"].startswith("Found collapsed")
    assert "text" not in user_agent(normal)["purposeOfUse"][0]
    assert {c["code"] for c in broke["purposeOfEvent"][0]["coding"]} >= {"ETREAT", "emergency"}
    recorded = by_id[f"audit-{posted.headers['x-audit-sequence']}"]
    assert recorded["action"] == "C" and user_agent(recorded)["who"]["display"] == "you"
    # Newest first; never an item id or a query string.
    assert [e["id"] for e in shown] == sorted((e["id"] for e in shown), key=lambda i: -int(i.split("-")[1]))
    assert "Condition/" not in history.text and "query" not in {e.get("role", {}).get("display") for x in shown
                                                              for e in x["entity"]}
    # The look itself is audited, and the next look shows it.
    look = audit_record(record.gateway, history)
    assert (look["purpose"], look["outcome"], look["patients"][0]["id"]) == ("patient_request", "disclosed", pid)
    again = events((await client.get("/fhir/AuditEvent", params={"patient": f"Patient/{pid}"},
                                     headers=record.as_person(person))).json())
    assert again[0]["id"] == f"audit-{history.headers['x-audit-sequence']}"
    paged = (await client.get("/fhir/AuditEvent", params={"patient": f"Patient/{pid}", "_count": 2, "_offset": 1},
                              headers=record.as_person(person))).json()
    assert [e["resource"]["id"] for e in paged["entry"]] == [e["id"] for e in again[0:2]]  # a newer look came first
    assert paged["total"] == len(again) + 1 and any(link["relation"] == "next" for link in paged["link"])


async def test_withdrawing_an_objection_is_in_force_at_once(client: httpx.AsyncClient, record: Record) -> None:
    person = record.person(0)
    pid = record.patient_id(person)
    nurse = record.staff("district_nurse", "RX1", team="DN-GOR")
    gp = {**record.staff("gp", person.practice_ods, name="Dr Maria Reyes"), **FHIR_JSON}
    posted = await client.post("/fhir/Consent", json=objection(pid, categories=("visits",), orgs=("RX1",)), headers=gp)
    assert posted.status_code == 201, posted.text
    consent = posted.json()
    assert consent["organization"][0]["identifier"]["value"] == person.practice_ods  # recorded by the practice
    blocked = await client.get(f"/fhir/Patient/{pid}/$everything", headers=nurse)
    assert "r4.objection" in rule_ids(audit_record(record.gateway, blocked), "noticed", "visits")

    withdrawn = await client.put(f"/fhir/Consent/{consent['id']}", headers=gp,
                                 json={**objection(pid, categories=("visits",), orgs=("RX1",), status="inactive"),
                                       "id": consent["id"]})
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["meta"]["versionId"] == "2" and withdrawn.json()["status"] == "inactive"
    assert audit_record(record.gateway, withdrawn)["interaction"] == "update Consent"
    released = await client.get(f"/fhir/Patient/{pid}/$everything", headers=nurse)
    assert "r4.objection" not in rule_ids(audit_record(record.gateway, released), "noticed", "visits")
    assert any(r["resourceType"] == "Encounter" for r in matched(released.json()))
    history = await client.get(f"/fhir/Consent/{consent['id']}/_history", headers=gp)
    assert [e["resource"]["meta"]["versionId"] for e in history.json()["entry"]] == ["2", "1"]
    provenances = [p for p in record.gateway.store.search("Provenance", patient_ids=[pid])
                   if p.content["target"] == [{"reference": f"Consent/{consent['id']}"}]]
    assert sorted(p.content["activity"]["coding"][0]["code"] for p in provenances) == ["CREATE", "UPDATE"]


async def test_an_objection_period_bounds_it(client: httpx.AsyncClient, record: Record) -> None:
    person = record.person(0)
    pid = record.patient_id(person)
    nurse = record.staff("district_nurse", "RX1", team="DN-GOR")
    for period in ({"start": "2020-01-01", "end": "2021-01-01"}, {"start": "2999-01-01"}):
        posted = await client.post("/fhir/Consent", json=objection(pid, orgs=("RX1",), period=period),
                                   headers={**record.as_person(person), **FHIR_JSON})
        assert posted.status_code == 201
    outside = await client.get(f"/fhir/Patient/{pid}/$everything", headers=nurse)
    assert not any("r4.objection" in i["rule_ids"] for i in audit_record(record.gateway, outside)["items"]["noticed"])
    await client.post("/fhir/Consent", json=objection(pid, orgs=("RX1",), period={"end": "2999-12-31"}),
                      headers={**record.as_person(person), **FHIR_JSON})
    inside = await client.get(f"/fhir/Patient/{pid}/$everything", headers=nurse)
    assert any("r4.objection" in i["rule_ids"] for i in audit_record(record.gateway, inside)["items"]["noticed"])


# -- precedence between sources and the API -------------------------------------------------------------

async def test_a_source_re_sending_an_older_objection_does_not_undo_a_later_withdrawal(
        client: httpx.AsyncClient, record: Record) -> None:
    person = next(p for p in record.people if p.objects_to_gp_seeing_case_notes)
    pid = record.patient_id(person)
    gp_read = record.staff("gp", person.practice_ods)
    first = await client.get(f"/fhir/Patient/{pid}/$everything", headers=gp_read)
    assert "r4.objection" in rule_ids(audit_record(record.gateway, first), "noticed", "case_notes")

    # The practice records that the person has withdrawn that objection (the most recent explicit choice).
    withdrawal = objection(pid, categories=("case_notes",), orgs=(person.practice_ods,), status="inactive")
    posted = await client.post("/fhir/Consent", json=withdrawal, headers={**gp_read, **FHIR_JSON})
    assert posted.status_code == 201, posted.text
    later = await client.get(f"/fhir/Patient/{pid}/$everything", headers=gp_read)
    assert "r4.objection" not in rule_ids(audit_record(record.gateway, later), "noticed", "case_notes")

    record.ingest_social_care()  # the council's export arrives again, with the objection as it was
    again = await client.get(f"/fhir/Patient/{pid}/$everything", headers=gp_read)
    assert "r4.objection" not in rule_ids(audit_record(record.gateway, again), "noticed", "case_notes")

    # A source's Consent is kept as the source sent it: change it by recording a new choice.
    source_consent = next(s for s in record.gateway.store.search("Consent", patient_ids=[pid])
                          if s.id != posted.json()["id"])
    put = await client.put(f"/fhir/Consent/{source_consent.id}", headers={**gp_read, **FHIR_JSON},
                           json={**withdrawal, "id": source_consent.id})
    assert put.status_code == 409 and "POST /fhir/Consent" in put.json()["issue"][0]["diagnostics"]


# -- the national data opt-out --------------------------------------------------------------------------

async def test_national_data_opt_out_recorded_by_its_owning_roles_applies_to_research_at_once(
        client: httpx.AsyncClient, record: Record) -> None:
    person = record.person(1)
    pid = record.patient_id(person)
    researcher = record.staff("researcher", "RES01", "research")

    async def opted_out_rule() -> bool:
        r = await client.get(f"/fhir/Patient/{pid}/$everything", headers=researcher)
        assert r.status_code == 200 and not matched(r.json())
        return "r5.national_opt_out" in {i for x in audit_record(record.gateway, r)["items"]["hidden"]
                                         for i in x["rule_ids"]}

    assert not await opted_out_rule()
    gp = await client.post("/fhir/Consent", json=opt_out(pid, True),
                           headers={**record.staff("gp", person.practice_ods), **FHIR_JSON})
    assert gp.status_code == 403  # the practice records objections, not the national opt-out
    mine = await client.post("/fhir/Consent", json=opt_out(pid, True),
                             headers={**record.as_person(person), **FHIR_JSON})
    assert mine.status_code == 201, mine.text
    assert mine.json()["provision"]["purpose"][0]["code"] == "HRESCH"
    assert await opted_out_rule()
    desk = await client.post("/fhir/Consent", json=opt_out(pid, False),
                             headers={**record.staff("ig_officer", "C8Q2R", "direct_care"), **FHIR_JSON})
    assert desk.status_code == 201, desk.text
    assert not await opted_out_rule()
    bad = await client.post("/fhir/Consent", headers={**record.as_person(person), **FHIR_JSON},
                            json={**opt_out(pid, True), "provision": {"type": "deny", "actor": [{}]}})
    assert bad.status_code == 422 and bad.json()["issue"][0]["expression"] == ["Consent.provision.actor"]


# -- who may record what, and validation against the pack -----------------------------------------------

async def test_recording_choices_is_authenticated_first_authorised_by_capability_and_validated(
        client: httpx.AsyncClient, record: Record) -> None:
    person, other = record.person(0), record.person(1)
    pid, other_id = record.patient_id(person), record.patient_id(other)
    body = objection(pid, categories=("clinical_summary",), orgs=("RX1",))

    anonymous = await client.post("/fhir/Consent", content=b"{not json", headers=FHIR_JSON)
    assert anonymous.status_code == 401  # no token: refused before the body is read
    receptionist = await client.post("/fhir/Consent", json=body,
                                     headers={**record.staff("receptionist", person.practice_ods), **FHIR_JSON})
    assert receptionist.status_code == 403 and "records_consent" in receptionist.json()["issue"][0]["diagnostics"]
    someone_else = await client.post("/fhir/Consent", json=objection(other_id, orgs=("RX1",)),
                                     headers={**record.as_person(person), **FHIR_JSON})
    assert someone_else.status_code == 403
    refused = audit_record(record.gateway, someone_else)
    assert refused["outcome"] == "refused" and refused["patients"][0]["id"] == other_id

    headers = {**record.as_person(person), **FHIR_JSON}
    cases = [
        (objection(pid, categories=("clinical_summary", "no_such_category")), "Consent.provision.securityLabel[1]",
         "no_such_category"),
        (objection(pid, orgs=("ZZZ99",)), "Consent.provision.actor[0].reference", "ZZZ99"),
        ({**body, "provision": {**body["provision"], "type": "permit"}}, "Consent.provision.type", "deny"),
        ({**body, "status": "draft"}, "Consent.status", "inactive"),
        (objection(pid, period={"start": "2026-02-01", "end": "2026-01-01"}), "Consent.provision.period", "before"),
        ({**body, "policyRule": {"coding": [{"system": CONSENT_POLICY, "code": "whatever"}]}}, "Consent.policyRule",
         "whatever"),
    ]
    for sent, field, said in cases:
        response = await client.post("/fhir/Consent", json=sent, headers=headers)
        assert response.status_code == 422, (field, response.text)
        issue = response.json()["issue"][0]
        assert response.json()["resourceType"] == "OperationOutcome" and issue["expression"] == [field]
        assert said in issue["diagnostics"]
        assert audit_record(record.gateway, response)["outcome"] == "error"
    assert not [s for s in record.gateway.store.search("Consent", patient_ids=[pid])]  # nothing was stored
    missing = await client.put("/fhir/Consent/does-not-exist", json=body, headers=headers)
    assert missing.status_code == 404
    wrong_type = await client.post("/fhir/Consent", content=b"<Consent/>",
                                   headers={**record.as_person(person), "Content-Type": "application/xml"})
    assert wrong_type.status_code == 415


# -- the access history: only one's own, and only what the policy lets the person see --------------------

async def test_access_history_is_the_persons_own_and_refusals_are_audited(
        client: httpx.AsyncClient, record: Record) -> None:
    person, other = record.person(0), record.person(1)
    other_id = record.patient_id(other)
    refused = await client.get("/fhir/AuditEvent", params={"patient": f"Patient/{other_id}"},
                               headers=record.as_person(person))
    assert refused.status_code == 403
    audited = audit_record(record.gateway, refused)
    assert audited["outcome"] == "refused" and audited["patients"][0]["id"] == other_id
    unknown = await client.get("/fhir/AuditEvent", params={"patient": "Patient/nobody"},
                               headers=record.as_person(person))
    assert unknown.status_code == 403  # the same answer: whether a person exists is not said
    staff = await client.get("/fhir/AuditEvent", params={"patient": f"Patient/{other_id}"},
                             headers=record.staff("gp", other.practice_ods))
    assert staff.status_code == 403
    # no patient named: a malformed search (400), or refused by a scope check that wants one named (403)
    assert (await client.get("/fhir/AuditEvent", headers=record.as_person(person))).status_code in (400, 403)
    # The attempt shows in the other person's own history, without the snooper's name.
    theirs = events((await client.get("/fhir/AuditEvent", params={"patient": f"Patient/{other_id}"},
                                      headers=record.as_person(other))).json())
    attempt = next(e for e in theirs if e["id"] == f"audit-{refused.headers['x-audit-sequence']}")
    xml = await client.get("/fhir/AuditEvent", params={"patient": f"Patient/{other_id}", "_format": "xml"},
                           headers=record.as_person(other))
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/fhir+xml")  # valid R4
    assert attempt["outcome"] == "4" and person.family not in str(attempt)
    assert user_agent(attempt)["who"]["display"] == "another person signed in as themselves"


async def test_access_history_never_names_what_the_policy_hides_from_the_person(
        client: httpx.AsyncClient, record: Record, tmp_path: Path) -> None:
    person = next(p for p in record.people if "86406008" in p.conditions and p.safeguarding)
    pid = record.patient_id(person)
    own_gp = record.staff("gp", person.practice_ods, name="Dr Ngozi Okafor")
    everything = await client.get(f"/fhir/Patient/{pid}/$everything", headers=own_gp)
    assert "restricted" in {c for i in audit_record(record.gateway, everything)["items"]["released"]
                            for c in i["categories"]}  # the recording practice receives its HIV entry
    hiv = next(r for r in matched(everything.json()) if r["resourceType"] == "Condition"
               and "86406008" in str(r.get("code")))
    read_hiv = await client.get(f"/fhir/Condition/{hiv['id']}", headers=own_gp)
    assert read_hiv.status_code == 200
    safeguarding = await client.get(f"/fhir/Patient/{pid}/$everything", headers=record.staff(
        "social_worker", "C8Q2R", "safeguarding", name="Tom Ellis",
        justification="Section 42 enquiry: concern raised by neighbour"))
    assert safeguarding.status_code == 200

    def look() -> httpx.Response:
        return client.get("/fhir/AuditEvent", params={"patient": f"Patient/{pid}"}, headers=record.as_person(person))

    shown = {e["id"]: e for e in events((await look()).json())}
    assert f"audit-{read_hiv.headers['x-audit-sequence']}" not in shown  # only about what is hidden from them
    seen = shown[f"audit-{everything.headers['x-audit-sequence']}"]
    assert "clinical_summary" in categories_of(seen, "released")
    text = str(list(shown.values()))
    assert "restricted" not in text and "86406008" not in text and hiv["id"] not in text
    sg = shown[f"audit-{safeguarding.headers['x-audit-sequence']}"]
    assert "text" not in user_agent(sg)["purposeOfUse"][0]  # only a break-glass justification is shown
    assert "Section 42" not in text

    # The IG settings: staff names left out, and safeguarding activity left out of the person's view.
    pack = tmp_path / "pack"
    shutil.copytree(record.gateway.policies.directory, pack)
    (pack / "settings.yaml").write_text("person_view:\n  staff_names: organisation\n  omit_purposes: [safeguarding]\n")
    record.gateway.policies = record.gateway.disclosure.policies = PolicyHolder(pack)
    shown = {e["id"]: e for e in events((await look()).json())}
    assert f"audit-{safeguarding.headers['x-audit-sequence']}" not in shown
    seen = shown[f"audit-{everything.headers['x-audit-sequence']}"]
    assert user_agent(seen)["who"]["display"] == "a member of staff" and "Okafor" not in str(list(shown.values()))
    org = next(a for a in seen["agent"] if a["who"].get("identifier", {}).get("system") == ODS_SYSTEM)
    assert org["who"]["identifier"]["value"] == person.practice_ods and org["who"]["display"] != person.practice_ods


async def test_a_choice_recorded_through_one_gateway_process_is_in_force_on_another(
        client: httpx.AsyncClient, record: Record) -> None:
    from gateway.api.app import create_app
    from gateway.wiring import build_gateway

    person = record.person(0)
    pid = record.patient_id(person)
    other = build_gateway(record.settings, run_migrations=False)  # a second process on the same database
    try:
        transport = httpx.ASGITransport(app=create_app(other))
        async with httpx.AsyncClient(transport=transport, base_url="http://second") as second:
            posted = await client.post("/fhir/Consent", json=objection(pid, categories=("access",), orgs=("RX1",)),
                                       headers={**record.as_person(person), **FHIR_JSON})
            assert posted.status_code == 201
            there = await second.get(f"/fhir/Patient/{pid}/$everything",
                                     headers=record.staff("district_nurse", "RX1", team="DN-GOR"))
            assert there.status_code == 200
            noticed = other.audit.entry(int(there.headers["x-audit-sequence"])).record["items"]["noticed"]
            assert any("r4.objection" in i["rule_ids"] for i in noticed if "access" in i["categories"])
    finally:
        other.close()
