"""categories.yaml selects on exactly what the adapters write (adapters/conventions.py)."""
from __future__ import annotations

import pytest

from adapters import conventions as cv
from adapters import fhir_helpers as fh

from .conftest import PACK

CASES = [
    (fh.risk_flag("f1", "p1", fh.local_item("DOG", "Dangerous dog"), detail="big dog"), ("risk_flag",)),
    (fh.access_flag("f2", "p1", cv.ITEM_KEYSAFE, "Key safe code", "5190"), ("access",)),
    (fh.access_flag("f3", "p1", cv.ITEM_ACCESS, "Access instructions", "Side door"), ("access",)),
    (fh.safeguarding_flag("f4", "p1", fh.local_item(cv.ITEM_SAFEGUARDING), enquiry_status="open", detail="x"),
     ("safeguarding",)),
    (fh.capacity_assessment("o1", "p1", outcome="LACKS", decision="move", reasoning="why"), ("capacity_assessment",)),
    (fh.observation("o2", "p1", fh.local_item(cv.ITEM_DNACPR), value={"valueCodeableConcept": fh.dnacpr_code(True)}),
     ("advance_decisions",)),
    (fh.observation("o3", "p1", fh.local_item(cv.ITEM_WATERLOW), value={"valueInteger": 14}), ("clinical_summary",)),
    ({"resourceType": "Condition", "code": fh.dnacpr_code(True)}, ("advance_decisions",)),
    ({"resourceType": "DocumentReference", "type": fh.local_item(cv.ITEM_CASE_NOTE)}, ("case_notes",)),
    ({"resourceType": "CarePlan", "category": [fh.local_item(cv.ITEM_CARE_PACKAGE)]}, ("care_package",)),
    ({"resourceType": "Encounter"}, ("visits",)),
    ({"resourceType": "Patient"}, ("demographics",)),
    ({"resourceType": "RelatedPerson"}, ("care_team",)),
    ({"resourceType": "Condition", "code": {"coding": [{"system": fh.SNOMED, "code": "105629000"}]}},
     ("clinical_summary", "restricted")),
    ({"resourceType": "Basic"}, ("clinical_summary",)),  # fallback_category
]


@pytest.mark.parametrize(("resource", "expected"), CASES, ids=[f"{r['resourceType']}-{e[0]}" for r, e in CASES])
def test_adapter_resources_land_in_their_category(engine, resource, expected):
    assert engine.categorize(resource) == expected


def test_section_hint_selects(engine):
    assert engine.categorize({"resourceType": "DocumentReference"}, {"section": "CaseNotes"}) == ("case_notes",)
    assert engine.categorize({"resourceType": "DocumentReference"}) == ("clinical_summary",)


def test_field_groups_select_the_adapter_extensions(engine):
    groups = {g.name: g for gs in engine.vocabulary.field_groups.values() for g in gs}
    flag = fh.risk_flag("f1", "p1", fh.local_item("DOG"), detail="big dog")
    assert any(s.present(flag) for s in groups["risk_flag.detail"].fields)
    assert not any(s.present(fh.risk_flag("f1", "p1", fh.local_item("DOG"))) for s in groups["risk_flag.detail"].fields)
    mca = fh.capacity_assessment("o1", "p1", outcome="HAS", decision="d", best_interests="bi")
    assert any(s.present(mca) for s in groups["capacity_assessment.reasoning"].fields)
    sg = fh.safeguarding_flag("f4", "p1", fh.local_item(cv.ITEM_SAFEGUARDING), enquiry_status="open", detail="x")
    assert any(s.present(sg) for s in groups["safeguarding.detail"].fields)


def test_every_url_in_categories_yaml_is_a_convention():
    text = (PACK / "categories.yaml").read_text()
    known = {v for k, v in vars(cv).items() if k.isupper() and isinstance(v, str)}
    import re

    for url in set(re.findall(r"https://fhir\.care-gateway\.example/[A-Za-z/-]+", text)):
        assert url in known, f"{url} is not in adapters/conventions.py"


def _mapped(adapter, path):  # type: ignore[no-untyped-def]
    from adapters.base import MappedRecord

    out = []
    for message in adapter.parse(path.read_bytes(), str(path)):
        out += [r for r in adapter.map(message) if isinstance(r, MappedRecord)]
    return out


FIXTURES = PACK.parent / "tests" / "fixtures"


@pytest.mark.skipif(not (FIXTURES / "social_care" / "formats_example.xml").exists(), reason="adapter fixtures absent")
def test_real_adapter_output_is_labelled_and_read(engine):
    from adapters.community_hl7v2 import Hl7v2Adapter
    from adapters.social_care import SocialCareAdapter
    from gateway.policy import patient_context

    social = _mapped(SocialCareAdapter(), FIXTURES / "social_care" / "formats_example.xml")
    labels = sorted({engine.categorize(r.resource, r.hints) for r in social})
    assert labels == sorted({("demographics",), ("care_team",), ("risk_flag",), ("access",), ("capacity_assessment",),
                             ("safeguarding",), ("care_package",), ("case_notes",)})
    nursing = _mapped(Hl7v2Adapter(), FIXTURES / "hl7v2" / "formats_example_oru.hl7")
    assert {engine.categorize(r.resource, r.hints) for r in nursing} == {
        ("demographics",), ("care_team",), ("visits",), ("risk_flag",), ("access",), ("clinical_summary",)}
    patient = next(r.resource for r in social if r.resource["resourceType"] == "Patient")
    ctx = patient_context(patient, [r.resource for r in social + nursing])
    assert {(d.type, d.categories, d.recipient_orgs, d.given_by) for d in ctx.directives} == {
        ("deny", ("case_notes",), ("P81001",), "patient"), ("permit", ("capacity_assessment",), ("RX1",), "attorney")}
    sw = next(m for m in ctx.care_team if m.role == "allocated-social-worker")
    assert (sw.org, sw.team, sw.name, sw.phone) == ("C8Q2R", "ASC-NORTH", "Tom Ellis", "0161 555 0199")
    assert {m.org for m in ctx.care_team if m.role in ("registered-gp-practice", "usual-gp")} == {"P81001"}
