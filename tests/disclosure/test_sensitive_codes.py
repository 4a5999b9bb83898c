"""Sensitive codes beyond a fixed list, on stored records: a new SNOMED CT expansion applies to what is
already stored as soon as it goes live (labels are derived from the live policy at decision time), and
the IG report of unclassified codes reads the stored corpus."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from gateway.disclosure import relabel
from gateway.policy import PolicyEngine
from gateway.policy.commands import app as policy_app
from gateway.policy.terminology import cache_name
from tests.disclosure.conftest import Demo, entries, notice_texts
from tests.policy.terminology_server import terminology_server

SCT = "http://snomed.info/sct"
MENTAL = cache_name("<< 74732009 |Mental disorder|")


def _condition(demo: Demo, rid: str, code: str, display: str | None = None) -> dict:
    person = demo.people[0]
    coding = {"system": SCT, "code": code} | ({"display": display} if display else {})
    return {"resourceType": "Condition", "id": rid, "subject": {"reference": f"Patient/{demo.patient_id(person)}"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "code": {"coding": [coding]}}


@pytest.fixture
def stored(demo: Demo) -> Iterator[list[str]]:
    """Conditions a test puts in the demo store; removed afterwards."""
    ids: list[str] = []
    yield ids
    for rid in ids:
        demo.gateway.store.delete("Condition", rid)


def _store(demo: Demo, stored: list[str], resource: dict, engine: PolicyEngine) -> None:
    person = demo.people[0]
    cats, version = engine.label(resource)
    demo.gateway.store.upsert(resource, patient_id=demo.patient_id(person), categories=cats,
                              holder_org=person.practice_ods, labels_version=version)
    stored.append(resource["id"])


def _social_worker(demo: Demo) -> dict:
    return demo.everything(demo.people[0], "social_worker", "C8Q2R")


def test_a_new_expansion_reaches_stored_records_on_reload(demo: Demo, policy_copy: Path, stored: list[str]) -> None:
    # The pack in force before: its cached hierarchy lacks "Mixed anxiety and depressive disorder".
    path = policy_copy / "valuesets" / MENTAL
    vs = orjson.loads(path.read_bytes())
    vs["expansion"]["contains"] = [c for c in vs["expansion"]["contains"] if c["code"] != "231504006"]
    path.write_bytes(orjson.dumps(vs, option=orjson.OPT_INDENT_2))
    before = PolicyEngine.load(policy_copy)
    demo.use_policy(policy_copy)
    diagnosis = _condition(demo, "mixed-anxiety-1", "231504006")  # coded only: the safety net has no text to read
    _store(demo, stored, diagnosis, before)
    assert demo.gateway.store.get("Condition", "mixed-anxiety-1").categories == ("clinical_summary",)
    sent = [r["id"] for r in entries(_social_worker(demo))]
    assert "mixed-anxiety-1" in sent, "under-protected: a social worker receives it as a plain problem"

    # IG staff expand the hierarchy with their terminology server, then put the pack live.
    with terminology_server() as server:
        result = CliRunner().invoke(policy_app, ["expand", str(policy_copy), "--server", server.base],
                                    env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    ig = demo.headers("ig_officer", "X26", user="IG-1")
    diff = demo.client.post("/policy/diff", headers=ig, json={"corpus": True}).json()
    assert any("mental_health" in e["words"] for e in diff["corpus"]["examples"] if e["role"] == "social_worker")
    reloaded = demo.client.post("/policy/reload", headers=ig)
    assert reloaded.status_code == 200, reloaded.text
    after = demo.gateway.policies.engine
    assert after.labels_version != before.labels_version

    # Even with the stored label still the old one (the reload's background refresh is let finish, then
    # the old label is written back), the next request decides it under the new expansion.
    for thread in [t for t in threading.enumerate() if t.name == "relabel"]:
        thread.join(timeout=60)
    row = demo.gateway.store.get("Condition", "mixed-anxiety-1")
    demo.gateway.store.store_labels([(row.resource_type, row.id, row.version_id, ("clinical_summary",))],
                                    before.labels_version)
    assert demo.gateway.store.get("Condition", "mixed-anxiety-1").labels_version == before.labels_version
    bundle = _social_worker(demo)
    assert "mixed-anxiety-1" not in [r["id"] for r in entries(bundle)]
    assert any("mental_health" in t for t in notice_texts(bundle))
    gp = demo.everything(demo.people[0], "gp", demo.people[0].practice_ods)
    assert "mixed-anxiety-1" in [r["id"] for r in entries(gp)], "the GP's column releases mental health"
    # ... and refreshing the label cache writes the same answer down.
    relabel(demo.gateway.store, after)
    assert demo.gateway.store.get("Condition", "mixed-anxiety-1").categories == ("clinical_summary", "mental_health")


def test_the_unclassified_report_reads_the_stored_corpus(demo: Demo, stored: list[str],
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.corpus_commands import unclassified

    engine = PolicyEngine.load(demo.shipped)
    _store(demo, stored, _condition(demo, "postnatal-1", "1000000101", "Postnatal depression"), engine)
    _store(demo, stored, _condition(demo, "postnatal-2", "1000000101", "Postnatal depression"), engine)
    _store(demo, stored, _condition(demo, "mixed-2", "231504006", "Mixed anxiety and depressive disorder"), engine)
    s = demo.settings
    for key, value in (("DATABASE_URL", s.database_url), ("JWKS", s.jwks), ("SIGNING_JWKS", s.signing_jwks),
                       ("AUDIT_KEY", s.audit_key), ("POLICY_DIR", str(demo.shipped))):
        monkeypatch.setenv(f"GATEWAY_{key}", str(value))
    unclassified(policy=demo.shipped, limit=100, safety_net_only=False, as_json=True)
    report = orjson.loads(capsys.readouterr().out)
    assert report["items_checked"] >= demo.gateway.store.count() - 1
    first = report["codes"][0]
    assert (first["code"], first["items"], first["safety_net"], first["terms"]) == (
        f"{SCT}|1000000101", 2, ["mental_health"], ["depress"])
    codes = {c["code"] for c in report["codes"]}
    assert f"{SCT}|231504006" not in codes, "classified by the hierarchy"
    assert f"{SCT}|38341003" in codes, "a plain problem of the corpus, categorised by resource type only"
    # The table form, safety net only.
    unclassified(policy=demo.shipped, limit=100, safety_net_only=True, as_json=False)
    table = capsys.readouterr().out
    assert "Postnatal" in table and "Hypertensive" not in table
