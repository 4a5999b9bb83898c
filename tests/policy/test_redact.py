"""Redaction works on plain dicts and leaves valid, labelled R4."""
from __future__ import annotations

import copy

from gateway.policy import ItemDecision, apply_redaction

DETAIL = "https://fhir.care-gateway.example/StructureDefinition/detail"
FLAG = {
    "resourceType": "Flag", "id": "f1", "status": "active",
    "meta": {"versionId": "1", "security": [{"system": "http://example.org/x", "code": "N"}]},
    "extension": [{"url": DETAIL, "valueString": "Threatened a nurse"},
                  {"url": "http://example.org/other", "valueString": "keep"}],
    "code": {"coding": [{"system": "https://fhir.care-gateway.example/CodeSystem/local-item", "code": "VIOL"}],
             "text": "Violence"},
    "subject": {"reference": "Patient/p1"},
}


def test_removes_selected_fields_on_a_copy_and_labels_it():
    original = copy.deepcopy(FLAG)
    d = ItemDecision("redact", ("x",), (f"Flag.extension('{DETAIL}')",), ("risk_flag.detail",))
    out = apply_redaction(FLAG, d)
    assert FLAG == original  # the stored dict is untouched
    assert out["extension"] == [{"url": "http://example.org/other", "valueString": "keep"}]
    assert {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "REDACTED",
            "display": "redacted"} in out["meta"]["security"]
    assert {"system": "http://example.org/x", "code": "N"} in out["meta"]["security"]
    assert out["meta"]["tag"] == [{"system": "https://fhir.care-gateway.example/CodeSystem/data-category",
                                   "code": "risk_flag.detail"}]
    assert out["code"] == FLAG["code"] and out["subject"] == FLAG["subject"]
    assert "Threatened" not in str(out)


def test_last_extension_removed_drops_the_array():
    flag = {**FLAG, "extension": [{"url": DETAIL, "valueString": "x"}]}
    out = apply_redaction(flag, ItemDecision("redact", ("x",), (f"Flag.extension('{DETAIL}')",)))
    assert "extension" not in out


def test_required_element_becomes_data_absent_masked():
    out = apply_redaction(FLAG, ItemDecision("redact", ("x",), ("Flag.code", "Flag.status")))
    masked = {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "masked"}
    assert out["code"] == {"extension": [masked]}
    assert "status" not in out and out["_status"] == {"extension": [masked]}


def test_optional_element_is_simply_removed():
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "MCA"}, "note": [{"text": "why"}]}
    out = apply_redaction(obs, ItemDecision("redact", ("x",), ("Observation.note",)))
    assert "note" not in out and "_note" not in out and out["code"] == {"text": "MCA"}


def test_where_filter_removes_only_matching_components():
    obs = {"resourceType": "Observation", "component": [
        {"code": {"coding": [{"code": "MCADEC"}]}, "valueString": "move"},
        {"code": {"coding": [{"code": "OTHER"}]}, "valueString": "keep"}]}
    out = apply_redaction(obs, ItemDecision("redact", ("x",),
                                            ("Observation.component.where(code.coding.code = 'MCADEC')",)))
    assert [c["valueString"] for c in out["component"]] == ["keep"]


def test_release_returns_an_unlabelled_copy():
    out = apply_redaction(FLAG, ItemDecision("release", ("x",)))
    assert out == FLAG and out is not FLAG


def test_selector_for_another_type_does_nothing_but_label():
    out = apply_redaction(FLAG, ItemDecision("redact", ("x",), ("Observation.note",)))
    assert out["extension"] == FLAG["extension"]
