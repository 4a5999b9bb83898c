"""SNOMED CT hierarchies in categories (ecl:), their expansions cached in the pack, `gateway policy
expand` against a FHIR terminology server, and the safety net of sensitive terms."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.policy import CareTeamMember, Item, PatientContext, PolicyEngine, PolicyError
from gateway.policy.commands import app
from gateway.policy.terminology import CURATED, EXPANSION_SOURCE, cache_name, normalise_ecl
from gateway.policy.unclassified import unclassified_codes
from gateway.testing import requester

from .conftest import PACK, write
from .terminology_server import CONCEPTS, VERSION, terminology_server

SCT = "http://snomed.info/sct"
MENTAL = "valuesets/" + cache_name("<< 74732009 |Mental disorder|")
runner = CliRunner()


def condition(code: str, display: str | None = None, system: str = SCT, **extra) -> dict:
    coding = {"system": system, "code": code} | ({"display": display} if display else {})
    return {"resourceType": "Condition", "id": f"c{code}", "code": {"coding": [coding]}, **extra}


def _run(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})


# -- descendants of the listed concepts, through the cached expansions ------------------------------

OUTSIDE_THE_LISTS = [
    ("231504006", "Mixed anxiety and depressive disorder", "mental_health"),  # the real diagnosis that slipped through
    ("370143000", "Major depressive disorder", "mental_health"),
    ("66344007", "Recurrent major depression", "mental_health"),
    ("21897009", "Generalized anxiety disorder", "mental_health"),
    ("64905009", "Paranoid schizophrenia", "mental_health"),
    ("371596008", "Bipolar I disorder", "mental_health"),
    ("62479008", "Acquired immune deficiency syndrome", "restricted"),
    ("240589008", "Chlamydia trachomatis infection", "restricted"),
]


@pytest.mark.parametrize(("code", "display", "overlay"), OUTSIDE_THE_LISTS, ids=[c for c, _, _ in OUTSIDE_THE_LISTS])
def test_descendants_of_the_listed_concepts_get_the_overlay(engine, code, display, overlay):
    assert f"{SCT}|{code}" not in (PACK / "categories.yaml").read_text(), "a code outside the lists"
    assert engine.categorize(condition(code, display)) == ("clinical_summary", overlay)
    # ... by its code, not by the safety net: without a display the code alone decides.
    c = engine.classify(condition(code))
    assert c.categories == ("clinical_summary", overlay) and not c.unclassified and not c.suggested


def test_the_mixed_anxiety_diagnosis_is_decided_as_mental_health(engine):
    item = condition("231504006", "Mixed anxiety and depressive disorder")
    context = PatientContext("p1", care_team=(CareTeamMember("allocated-social-worker", "C8Q2R"),
                                              CareTeamMember("registered-gp-practice", "P81001")))
    # The social worker's matrix column gives mental health as a notice, the GP's releases it.
    assert engine.decide(requester("social_worker", "C8Q2R"), context,
                         Item(item, engine.categorize(item), "P81001")).effect == "notice"
    assert engine.decide(requester("gp", "P81001"), context, Item(item, engine.categorize(item), "P81001")).effect \
        == "release"


def test_an_element_coded_in_the_hierarchy_brings_its_overlay(engine):
    visit = {"resourceType": "Encounter", "id": "e", "status": "finished",
             "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
             "reasonCode": [{"coding": [{"system": SCT, "code": "231504006"}]}]}
    context = PatientContext("p1", care_team=(CareTeamMember("allocated-social-worker", "C8Q2R"),))
    d = engine.decide(requester("social_worker", "C8Q2R"), context, Item(visit, engine.categorize(visit), "P81001"))
    assert d.effect == "redact" and "encounter.reason" in d.redacted_categories
    assert any(n.category == "mental_health" for n in d.redactions)


def test_codes_outside_every_hierarchy_are_untouched(engine):
    assert engine.categorize(condition("38341003", "Hypertensive disorder")) == ("clinical_summary",)
    assert engine.categorize(condition("231504006", system="http://example.org/other")) == ("clinical_summary",)


def test_an_ecl_matcher_ranks_like_codes(pack):
    cats = pack / "categories.yaml"
    write(cats, cats.read_text().replace(
        "  case_notes:\n", "  psych_notes:\n    description: mental-health kind (test)\n    match:\n"
        "      - ecl: [\"<<74732009\"]\n\n  case_notes:\n", 1))
    engine = PolicyEngine.load(pack)
    # the ECL kind beats "a Condition is clinical_summary" (rank 1), as a code would
    assert set(engine.categorize(condition("231504006"))) == {"psych_notes", "mental_health"}


def test_ecl_spellings_share_one_expansion():
    assert normalise_ecl("<< 74732009 |Mental disorder|") == normalise_ecl("<<74732009") == "<<74732009"
    assert normalise_ecl("<< 1 |a| OR  << 2") == normalise_ecl("<<1 OR <<2 |b|") != normalise_ecl("<<1 AND <<2")
    assert cache_name("<< 74732009 |Mental disorder|") == "descendants-or-self-of-74732009-mental-disorder.json"


# -- the cache is policy content -----------------------------------------------------------------------

def test_an_ecl_without_a_cached_expansion_cannot_go_live(pack):
    cats = pack / "categories.yaml"
    write(cats, cats.read_text().replace('"<< 105629000 |Chlamydial infection|"',
                                         '"<< 105629000 |Chlamydial infection|"\n          - "<< 8098009"'))
    with pytest.raises(PolicyError) as exc:
        PolicyEngine.load(pack)
    [problem] = exc.value.problems
    line = next(i for i, text in enumerate(cats.read_text().splitlines(), 1) if "<< 8098009" in text)
    assert (problem.file, problem.line) == ("categories.yaml", line)
    assert "'<< 8098009'" in problem.problem and "gateway policy expand" in problem.problem
    result = _run("check", str(pack))
    assert result.exit_code == 1 and "categories.yaml" in result.output and str(line) in result.output


def test_every_expansion_is_versioned_with_the_policy(pack):
    before = PolicyEngine.load(pack)
    path = pack / MENTAL
    vs = json.loads(path.read_text())
    vs["expansion"]["contains"] = [c for c in vs["expansion"]["contains"] if c["code"] != "231504006"]
    path.write_text(json.dumps(vs, indent=2))
    after = PolicyEngine.load(pack)
    assert after.version != before.version
    assert after.labels_version != before.labels_version, "stored labels must be derived again"
    assert after.categorize(condition("231504006")) == ("clinical_summary",)


def test_a_broken_cache_file_is_named(pack):
    write(pack / "valuesets" / "broken.json", '{"resourceType": "ValueSet",\n "expansion": ')
    with pytest.raises(PolicyError) as exc:
        PolicyEngine.load(pack)
    assert any(p.file == "valuesets/broken.json" and p.line == 2 for p in exc.value.problems)
    write(pack / "valuesets" / "broken.json", '{"resourceType": "ValueSet", "expansion": {"timestamp": "x"}}')
    with pytest.raises(PolicyError, match="no ECL"):
        PolicyEngine.load(pack)


def test_the_shipped_expansions_say_they_are_hand_curated(engine):
    assert engine.vocabulary.expansions, "the shipped pack caches its hierarchies"
    for e in engine.vocabulary.expansions.values():
        assert e.server is None and e.curated and "HAND-CURATED" in e.curated, e.file
    result = _run("check", str(PACK))
    assert result.exit_code == 0 and "3 hand-curated" in result.output and "hand-curated" in result.output


# -- gateway policy expand, against a FHIR terminology server on loopback --------------------------------

def test_expand_writes_the_servers_expansions_into_the_pack(pack):
    before = PolicyEngine.load(pack)
    with terminology_server() as server:
        result = _run("expand", str(pack), "--server", server.base, "--count", "2")
    assert result.exit_code == 0, result.output
    mental = json.loads((pack / MENTAL).read_text())
    assert mental["url"].startswith("http://snomed.info/sct?fhir_vs=ecl/")
    assert mental["compose"]["include"][0]["filter"][0]["value"] == "<< 74732009 |Mental disorder|"
    expansion = mental["expansion"]
    assert {"url": EXPANSION_SOURCE, "valueUri": server.base} in expansion["extension"]
    assert {"name": "used-codesystem", "valueUri": VERSION} in expansion["parameter"]
    assert mental["compose"]["include"][0]["version"] == VERSION.split("|", 1)[1]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", expansion["timestamp"])
    mental_codes = ["74732009", "197480006", "35489007", "231504006", "370143000", "69322001", "58214004", "13746004"]
    assert [c["code"] for c in expansion["contains"]] == sorted(mental_codes, key=int)
    assert expansion["total"] == 8 and all(c["display"] == CONCEPTS[c["code"]][0] for c in expansion["contains"])
    assert not any(e.get("url") == CURATED for e in mental.get("extension", ()))
    # paged: 8 concepts 2 at a time, each request asking for the implicit ECL value set
    mental_requests = [q for q in server.requests if "74732009" in q["url"][0]]
    assert [q["offset"] for q in mental_requests] == [["0"], ["2"], ["4"], ["6"]]
    assert all(q["count"] == ["2"] and q["url"][0] == "http://snomed.info/sct?fhir_vs=ecl/<< 74732009 |Mental disorder|"
               for q in mental_requests)
    # the pack now loads with the server's expansions - a new policy version, new labels
    after = PolicyEngine.load(pack)
    assert after.version != before.version and after.labels_version != before.labels_version
    assert all(e.server == server.base for e in after.vocabulary.expansions.values())
    assert after.categorize(condition("231504006")) == ("clinical_summary", "mental_health")
    assert after.categorize(condition("62479008")) == ("clinical_summary", "restricted")
    # ... and the hand-made concepts the fixture does not hold are gone: the expansion is the server's
    assert after.categorize(condition("78667006")) == ("clinical_summary",)
    check = _run("check", str(pack))
    assert check.exit_code == 0 and "3 from a terminology server, 0 hand-curated" in check.output


def test_expanding_again_changes_nothing(pack):
    with terminology_server() as server:
        assert _run("expand", str(pack), "--server", server.base).exit_code == 0
        version = PolicyEngine.load(pack).version
        again = _run("expand", str(pack), "--server", server.base)
    assert again.exit_code == 0 and "unchanged" in again.output and "written" not in again.output
    assert PolicyEngine.load(pack).version == version


def test_expand_takes_the_server_from_the_settings_and_reports_a_refusal(pack):
    before = {p.name: p.read_bytes() for p in (pack / "valuesets").iterdir()}
    with terminology_server() as server:
        server.fail_with = 400
        result = _run("expand", str(pack), env={"GATEWAY_TERMINOLOGY_URL": server.base})
        assert server.requests, "the configured server was asked"
    assert result.exit_code == 1
    assert "<< 74732009 |Mental disorder|" in result.output and "ECL syntax error" in result.output
    assert {p.name: p.read_bytes() for p in (pack / "valuesets").iterdir()} == before


def test_expand_needs_a_server(pack):
    result = _run("expand", str(pack), env={"GATEWAY_TERMINOLOGY_URL": ""})
    assert result.exit_code == 2 and "GATEWAY_TERMINOLOGY_URL" in result.output


def test_expand_writes_a_new_expressions_cache(pack):
    cats = pack / "categories.yaml"
    write(cats, cats.read_text().replace('"<< 105629000 |Chlamydial infection|"',
                                         '"<< 105629000 |Chlamydial infection|"\n          - "< 35489007"'))
    with pytest.raises(PolicyError):
        PolicyEngine.load(pack)
    with terminology_server() as server:
        assert _run("expand", str(pack), "--server", server.base).exit_code == 0
    written = json.loads((pack / "valuesets" / "descendants-of-35489007.json").read_text())
    assert [c["code"] for c in written["expansion"]["contains"]] == ["231504006", "370143000"]
    PolicyEngine.load(pack)


# -- the safety net ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("display", "overlay"), [
    ("Postnatal depression", "mental_health"), ("Health anxiety", "mental_health"),
    ("Asymptomatic HIV", "restricted"), ("Gender dysphoria", "restricted"),
    ("Sexual health review", "restricted"),
])
def test_an_unclassified_code_with_a_sensitive_term_gets_its_overlay(engine, display, overlay):
    c = engine.classify(condition("1000000001", display))
    assert c.categories == ("clinical_summary", overlay)
    assert c.unclassified and [s.overlay for s in c.suggested] == [overlay]


@pytest.mark.parametrize("display", ["Hives", "Heterosexual", "Hypertensive disorder", "hiv"])
def test_terms_match_word_starts_and_abbreviations_whole(engine, display):
    assert engine.categorize(condition("1000000002", display)) == ("clinical_summary",)


def test_the_safety_net_reads_a_concepts_text_and_uncoded_text(engine):
    coded = {"resourceType": "Condition", "code": {"coding": [{"system": SCT, "code": "1000000003"}],
                                                   "text": "Low mood - ? depression"}}
    uncoded = {"resourceType": "Observation", "code": {"text": "PHQ-9 depression score"}}
    assert engine.categorize(coded) == ("clinical_summary", "mental_health")
    assert engine.categorize(uncoded) == ("clinical_summary", "mental_health")


def test_classifying_a_code_ends_the_safety_net(pack):
    code = "1000000004"
    item = condition(code, "Anxiety about falling")
    assert PolicyEngine.load(pack).categorize(item) == ("clinical_summary", "mental_health")
    cats = pack / "categories.yaml"  # IG staff: not a mental-health condition, a problem like any other
    write(cats, cats.read_text().replace(
        "      - resource_types: [Observation, DocumentReference, ServiceRequest]\n",
        f"      - codes: [\"{SCT}|{code}\"]   # reviewed: not sensitive\n"
        "      - resource_types: [Observation, DocumentReference, ServiceRequest]\n", 1))
    c = PolicyEngine.load(pack).classify(item)
    assert c.categories == ("clinical_summary",) and not c.unclassified


def test_a_more_specific_kind_is_not_second_guessed(engine):
    flag = {"resourceType": "Flag", "status": "active",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/flag-category",
                                      "code": "safety"}]}],
            "code": {"coding": [{"system": SCT, "code": "1000000005", "display": "History of sexual violence"}]}}
    assert engine.categorize(flag) == ("risk_flag",)


def test_an_elements_unclassified_code_gets_the_overlay_too(engine):
    visit = {"resourceType": "Encounter", "id": "e", "status": "finished",
             "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
             "reasonCode": [{"coding": [{"system": SCT, "code": "1000000006", "display": "HIV monitoring"}]}]}
    context = PatientContext("p1", care_team=(CareTeamMember("registered-gp-practice", "P81001"),))
    d = engine.decide(requester("gp", "P81001"), context, Item(visit, engine.categorize(visit), "P81002"))
    assert d.effect == "release" and d.removed and not d.redactions  # restricted: the reason goes without a word


def test_sensitive_terms_name_overlays_only(pack):
    cats = pack / "categories.yaml"
    write(cats, cats.read_text().replace("sensitive_terms:\n", "sensitive_terms:\n  case_notes: [diary]\n", 1))
    with pytest.raises(PolicyError, match="'case_notes' is not an overlay"):
        PolicyEngine.load(pack)


# -- the IG report of unclassified codes ---------------------------------------------------------------

def test_the_report_counts_unclassified_codes_safety_net_first(engine):
    items = [condition("231504006", "Mixed anxiety and depressive disorder"),  # classified by the hierarchy
             condition("38341003", "Hypertensive disorder"), condition("38341003", "Hypertensive disorder"),
             condition("1000000007", "Postnatal depression"),
             {"resourceType": "Patient"},  # no codes: nothing to classify
             condition("304253006", "Not for resuscitation")]  # a kind's code
    report = unclassified_codes(engine, [(r, None) for r in items])
    assert (report.items_checked, report.items_unclassified, report.items_by_safety_net) == (6, 3, 1)
    assert [(c.code, c.items, c.suggested) for c in report.codes] == [
        (f"{SCT}|1000000007", 1, ("mental_health",)), (f"{SCT}|38341003", 2, ())]
    assert report.codes[0].terms == ("depress",) and report.codes[1].resource_types == {"Condition": 2}


def test_the_report_command_is_mounted():
    from gateway.cli import app as gateway_app

    result = runner.invoke(gateway_app, ["policy", "unclassified", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "safety" in result.output


def test_the_fixture_server_knows_its_hierarchy():
    from .terminology_server import evaluate

    assert "231504006" in evaluate("<< 197480006 |Anxiety disorder|") and "231504006" in evaluate("<35489007")
    assert evaluate("<< 86406008 OR << 105629000") == ["62479008", "86406008", "105629000", "240589008"]
    assert Path(__file__).with_name("terminology_server.py").is_file()


def test_expand_can_name_the_edition(pack):
    edition = "http://snomed.info/sct|http://snomed.info/sct/83821000000107"
    with terminology_server() as server:
        result = _run("expand", str(pack), "--server", server.base, "--system-version", edition)
    assert result.exit_code == 0, result.output
    assert server.requests and all(q["system-version"] == [edition] for q in server.requests)


def test_expand_never_overwrites_another_expressions_file(pack):
    # Two expressions whose readable file names are the same (brackets do not show in a name).
    first, second = "<< 35489007 OR << 197480006", "(<< 35489007 OR << 197480006)"
    assert cache_name(first) == cache_name(second) and normalise_ecl(first) != normalise_ecl(second)
    cats = pack / "categories.yaml"
    write(cats, cats.read_text().replace('"<< 105629000 |Chlamydial infection|"',
                                         f'"<< 105629000 |Chlamydial infection|"\n          - "{first}"'
                                         f'\n          - "{second}"', 1))
    with terminology_server() as server:
        assert _run("expand", str(pack), "--server", server.base).exit_code == 0
    files = sorted((pack / "valuesets").glob("descendants-or-self-of-35489007-*.json"))
    assert len(files) == 2
    assert {json.loads(f.read_text())["compose"]["include"][0]["filter"][0]["value"] for f in files} == {first, second}
    PolicyEngine.load(pack)
