"""GP Connect (STU3) -> R4: one test per STU3 -> R4 difference in docs/formats.md, on a hand-written
Bundle (tests/fixtures/gp_connect/structured_record.json), plus ids, references, the CareTeam,
rejections and whole-input errors."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

from adapters.base import Adapter, AdapterError, MappedRecord, Rejected, SourceMessage, stable_id
from adapters.conventions import CARE_TEAM_ROLE, EXT_PARTICIPANT_CONTACT, EXT_UNMAPPED
from adapters.gp_connect import GpConnectAdapter
from gateway.testing import references as all_references

FIXTURE = Path(__file__).parents[1] / "fixtures" / "gp_connect" / "structured_record.json"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
UK_CORE_EXT = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-"
PRACTICE = "P81001"


# --- helpers -------------------------------------------------------------------------------------

def fixture_bundle() -> dict[str, Any]:
    return json.loads(FIXTURE.read_bytes())


def run(bundle: dict[str, Any] | bytes) -> list[MappedRecord | Rejected]:
    adapter = GpConnectAdapter()
    raw = bundle if isinstance(bundle, bytes) else orjson.dumps(bundle)
    [message] = list(adapter.parse(raw, "fixture.json"))
    assert isinstance(message, SourceMessage)
    return list(adapter.map(message))


@pytest.fixture(scope="module")
def output() -> list[MappedRecord | Rejected]:
    return run(FIXTURE.read_bytes())


@pytest.fixture(scope="module")
def by_source(output: list[MappedRecord | Rejected]) -> dict[str, dict[str, Any]]:
    return {r.source_id: r.resource for r in output if isinstance(r, MappedRecord)}


def gid(kind: str, source_id: str) -> str:
    """The gateway id the adapter must give an STU3 resource of the fixture."""
    return stable_id(PRACTICE, kind, source_id)


def ref(r4_type: str, stu3_type: str, source_id: str) -> str:
    return f"{r4_type}/{gid(stu3_type, source_id)}"


def unmapped(resource: dict[str, Any]) -> dict[str, Any]:
    """path -> value of every unmapped-content extension."""
    kept = [json.loads(e["valueString"]) for e in resource.get("extension", []) if e["url"] == EXT_UNMAPPED]
    return {k["path"]: k["value"] for k in kept}


def extension_urls(resource: dict[str, Any]) -> set[str]:
    return {e["url"] for e in resource.get("extension", [])}


def codes(concept: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in concept["coding"]]


# --- the whole fixture ---------------------------------------------------------------------------

def test_adapter_implements_the_protocol() -> None:
    adapter = GpConnectAdapter()
    assert isinstance(adapter, Adapter)
    assert adapter.format == "gp-connect" and adapter.version


def test_every_entry_maps_and_every_output_validates_as_r4b(output: list[MappedRecord | Rejected]) -> None:
    assert not [r for r in output if isinstance(r, Rejected)]
    assert len(output) == len(fixture_bundle()["entry"]) + 1  # + the derived CareTeam
    for record in output:
        assert isinstance(record, MappedRecord)
        model = get_fhir_model_class(record.resource["resourceType"])
        model.model_validate(record.resource)  # raises when not valid R4B


def test_parse_names_source_system_time_and_keeps_raw() -> None:
    raw = FIXTURE.read_bytes()
    [message] = list(GpConnectAdapter().parse(raw, "fixture.json"))
    assert message.format == "gp-connect" and message.origin == "fixture.json" and message.raw == raw
    assert message.source_system == PRACTICE
    assert message.message_time is not None and message.message_time.isoformat() == "2026-11-03T09:00:00+00:00"
    assert message.message_id == "fixture-structured-record"
    assert message.body["resourceType"] == "Bundle"


def test_record_metadata(output: list[MappedRecord | Rejected]) -> None:
    records = [r for r in output if isinstance(r, MappedRecord)]
    assert {r.patient_nhs_number for r in records} == {"9434765919"}
    assert {r.source_system for r in records} == {PRACTICE}
    condition = next(r for r in records if r.source_id == "Condition/cond-1")
    assert condition.location == "entry[5].resource"
    assert condition.source_updated is not None and condition.source_updated.isoformat() == "2026-10-20T10:10:00+00:00"
    assert condition.hints["list_code"] == "717711000000103" and condition.hints["section"] == "Problems"
    without_meta = next(r for r in records if r.source_id == "Condition/cond-3")
    assert without_meta.source_updated is None


# --- ids and references --------------------------------------------------------------------------

def test_ids_are_stable_ids_of_the_source_type_and_id(by_source: dict[str, dict[str, Any]]) -> None:
    for source_id, resource in by_source.items():
        kind, _, original = source_id.partition("/")
        if kind == "CareTeam":
            continue
        assert resource["id"] == gid(kind, original)


def test_ids_are_the_same_on_every_run() -> None:
    first = [r.resource["id"] for r in run(FIXTURE.read_bytes()) if isinstance(r, MappedRecord)]
    second = [r.resource["id"] for r in run(FIXTURE.read_bytes()) if isinstance(r, MappedRecord)]
    assert first == second and len(set(first)) == len(first)


def test_every_in_bundle_reference_points_at_a_produced_resource(by_source: dict[str, dict[str, Any]]) -> None:
    produced = {f"{r['resourceType']}/{r['id']}" for r in by_source.values()}
    references = [x for r in by_source.values() for x in all_references(r)]
    outside = {"Appointment/appt-outside-bundle"}  # the fixture's one reference out of the Bundle
    assert references and set(references) - outside <= produced
    stu3_ids = {"pat-1", "org-1", "gp-1", "enc-1", "cond-1", "med-1", "obs-2", "ref-1", "spec-1"}
    assert not [x for x in references if x.split("/")[-1] in stu3_ids]


def test_urn_uuid_full_url_reference_is_rewritten(by_source: dict[str, dict[str, Any]]) -> None:
    problems = by_source["List/list-problems"]
    assert [e["item"]["reference"] for e in problems["entry"]] == [
        ref("Condition", "Condition", "cond-1"), ref("Condition", "Condition", "cond-2")]


def test_references_to_renamed_types_use_the_r4_type(by_source: dict[str, dict[str, Any]]) -> None:
    encounter = by_source["Encounter/enc-1"]
    assert encounter["basedOn"] == [{"reference": ref("ServiceRequest", "ReferralRequest", "ref-1")}]


def test_unresolved_reference_is_kept_and_reported(output: list[MappedRecord | Rejected]) -> None:
    encounter = next(r for r in output if isinstance(r, MappedRecord) and r.source_id == "Encounter/enc-1")
    assert encounter.resource["appointment"] == [{"reference": "Appointment/appt-outside-bundle"}]
    assert encounter.hints["unresolved_references"] == ["Appointment/appt-outside-bundle"]


# --- Condition -----------------------------------------------------------------------------------

def test_condition_clinical_status_becomes_codeable_concept(by_source: dict[str, dict[str, Any]]) -> None:
    assert codes(by_source["Condition/cond-1"]["clinicalStatus"]) == [(TERMINOLOGY + "condition-clinical", "active")]


def test_condition_verification_status_becomes_codeable_concept(by_source: dict[str, dict[str, Any]]) -> None:
    assert codes(by_source["Condition/cond-1"]["verificationStatus"]) == [
        (TERMINOLOGY + "condition-ver-status", "confirmed")]


def test_condition_stu3_unknown_verification_is_unconfirmed_and_kept(by_source: dict[str, dict[str, Any]]) -> None:
    condition = by_source["Condition/cond-2"]
    assert codes(condition["verificationStatus"]) == [(TERMINOLOGY + "condition-ver-status", "unconfirmed")]
    assert condition["verificationStatus"]["text"] == "unknown"
    assert unmapped(condition)["verificationStatus"] == "unknown"


def test_condition_entered_in_error_carries_no_clinical_status(by_source: dict[str, dict[str, Any]]) -> None:
    condition = by_source["Condition/cond-3"]
    assert "clinicalStatus" not in condition  # R4 con-5
    assert unmapped(condition)["clinicalStatus"]["coding"][0]["code"] == "active"


def test_condition_context_becomes_encounter(by_source: dict[str, dict[str, Any]]) -> None:
    condition = by_source["Condition/cond-1"]
    assert "context" not in condition
    assert condition["encounter"] == {"reference": ref("Encounter", "Encounter", "enc-1")}


def test_condition_asserted_date_becomes_recorded_date(by_source: dict[str, dict[str, Any]]) -> None:
    condition = by_source["Condition/cond-1"]
    assert "assertedDate" not in condition and condition["recordedDate"] == "2015-03-02T11:00:00+00:00"


def test_condition_abatement_boolean_is_said_in_r4_terms(by_source: dict[str, dict[str, Any]]) -> None:
    condition = by_source["Condition/cond-2"]
    assert "abatementBoolean" not in condition and condition["abatementString"].startswith("Abated")
    assert unmapped(condition)["abatementBoolean"] is True


# --- AllergyIntolerance --------------------------------------------------------------------------

def test_allergy_statuses_become_codeable_concepts_with_allergy_code_systems(
        by_source: dict[str, dict[str, Any]]) -> None:
    allergy = by_source["AllergyIntolerance/allergy-1"]
    assert codes(allergy["clinicalStatus"]) == [(TERMINOLOGY + "allergyintolerance-clinical", "resolved")]
    assert codes(allergy["verificationStatus"]) == [(TERMINOLOGY + "allergyintolerance-verification", "confirmed")]


def test_allergy_asserted_date_becomes_recorded_date_onset_unchanged(by_source: dict[str, dict[str, Any]]) -> None:
    allergy = by_source["AllergyIntolerance/allergy-1"]
    assert "assertedDate" not in allergy and allergy["recordedDate"] == "2001-06-02T09:30:00+00:00"
    assert allergy["onsetDateTime"] == "2001-06-01"


def test_allergy_stu3_code_not_in_r4_is_rejected_precisely() -> None:
    bundle = fixture_bundle()
    index = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["id"] == "allergy-1")
    bundle["entry"][index]["resource"]["clinicalStatus"] = "remission"  # a Condition code, not an allergy one
    [rejected] = [r for r in run(bundle) if isinstance(r, Rejected)]
    assert rejected.location == f"entry[{index}].resource.clinicalStatus"
    assert "'remission'" in rejected.reason and "resolved" in rejected.reason


def test_allergy_end_extension_is_renamed_to_uk_core(by_source: dict[str, dict[str, Any]]) -> None:
    allergy = by_source["AllergyIntolerance/allergy-1"]
    assert UK_CORE_EXT + "AllergyIntoleranceEnd" in extension_urls(allergy)


def test_no_known_allergies_list_is_kept(by_source: dict[str, dict[str, Any]]) -> None:
    empty = by_source["List/list-allergies"]
    assert "entry" not in empty
    assert codes(empty["emptyReason"]) == [(TERMINOLOGY + "list-empty-reason", "nilknown")]
    assert empty["note"] == [{"text": "No known allergies"}]
    assert empty["code"]["coding"][0]["code"] == "886921000000105"


# --- medicines -----------------------------------------------------------------------------------

def test_medication_statement_taken_n_becomes_status_not_taken(by_source: dict[str, dict[str, Any]]) -> None:
    statement = by_source["MedicationStatement/ms-1"]
    assert "taken" not in statement and statement["status"] == "not-taken"
    kept = unmapped(statement)
    assert kept["status"] == "stopped" and kept["taken"] == "n"


def test_medication_statement_taken_unknown_becomes_a_note(by_source: dict[str, dict[str, Any]]) -> None:
    statement = by_source["MedicationStatement/ms-2"]
    assert statement["status"] == "active"
    assert statement["note"] == [{"text": "Whether taken: unknown"}]


def test_medication_statement_reason_not_taken_becomes_status_reason(by_source: dict[str, dict[str, Any]]) -> None:
    statement = by_source["MedicationStatement/ms-1"]
    assert "reasonNotTaken" not in statement and statement["statusReason"] == [{"text": "Ankle swelling"}]


def test_medication_statement_context_stays_context(by_source: dict[str, dict[str, Any]]) -> None:
    assert by_source["MedicationStatement/ms-1"]["context"] == {"reference": ref("Encounter", "Encounter", "enc-1")}


def test_medication_request_requester_context_category_dosage(by_source: dict[str, dict[str, Any]]) -> None:
    request = by_source["MedicationRequest/mr-1"]
    assert request["requester"] == {"reference": ref("Practitioner", "Practitioner", "gp-1")}
    assert unmapped(request)["requester"] == {"onBehalfOf": {"reference": ref("Organization", "Organization", "org-1")}}
    assert request["encounter"] == {"reference": ref("Encounter", "Encounter", "enc-1")}
    assert codes(request["category"][0]) == [(TERMINOLOGY + "medicationrequest-category", "community")]
    assert request["dosageInstruction"] == [
        {"text": "One tablet daily", "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}]
    assert request["substitution"] == {"allowedBoolean": False}


def test_medication_brand_flags_and_package(by_source: dict[str, dict[str, Any]]) -> None:
    medication = by_source["Medication/med-1"]
    assert medication["batch"] == {"lotNumber": "B123", "expirationDate": "2027-01-01"}
    assert medication["ingredient"][0]["strength"]["numerator"]["value"] == 5
    kept = unmapped(medication)
    assert kept["isBrand"] is False and kept["package"] == {"container": {"text": "Blister pack"}}


# --- Immunization --------------------------------------------------------------------------------

def test_immunization_date_becomes_occurrence(by_source: dict[str, dict[str, Any]]) -> None:
    immunization = by_source["Immunization/imm-1"]
    assert "date" not in immunization and immunization["occurrenceDateTime"] == "2025-10-01T10:00:00+00:00"


def test_immunization_not_given_becomes_status_not_done(by_source: dict[str, dict[str, Any]]) -> None:
    assert by_source["Immunization/imm-1"]["status"] == "completed"
    declined = by_source["Immunization/imm-2"]
    assert "notGiven" not in declined and declined["status"] == "not-done"
    assert declined["statusReason"] == {"text": "Patient declined"}


def test_immunization_practitioner_becomes_performer(by_source: dict[str, dict[str, Any]]) -> None:
    [performer] = by_source["Immunization/imm-1"]["performer"]
    assert performer["actor"] == {"reference": ref("Practitioner", "Practitioner", "gp-1")}
    assert codes(performer["function"]) == [(TERMINOLOGY + "v2-0443", "AP")]


def test_immunization_explanation_reason_becomes_reason_code(by_source: dict[str, dict[str, Any]]) -> None:
    immunization = by_source["Immunization/imm-1"]
    assert "explanation" not in immunization and immunization["reasonCode"] == [{"text": "Aged 65 or over"}]


def test_immunization_protocol_and_date_recorded(by_source: dict[str, dict[str, Any]]) -> None:
    immunization = by_source["Immunization/imm-1"]
    assert immunization["protocolApplied"] == [{"doseNumberPositiveInt": 1, "targetDisease": [{"text": "Influenza"}]}]
    assert unmapped(immunization)["vaccinationProtocol[0]"] == {"doseStatus": {"text": "Counts"}}
    assert immunization["recorded"] == "2025-10-02T09:00:00+00:00"
    assert UK_CORE_EXT + "VaccinationProcedure" in extension_urls(immunization)
    assert not [u for u in extension_urls(immunization) if "DateRecorded" in u]


def test_immunization_without_date_is_rejected_not_invented() -> None:
    bundle = fixture_bundle()
    index = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["id"] == "imm-2")
    del bundle["entry"][index]["resource"]["date"]
    [rejected] = [r for r in run(bundle) if isinstance(r, Rejected)]
    assert rejected.location == f"entry[{index}].resource.date" and "required" in rejected.reason


# --- requests ------------------------------------------------------------------------------------

def test_referral_request_becomes_service_request(by_source: dict[str, dict[str, Any]]) -> None:
    request = by_source["ReferralRequest/ref-1"]
    assert request["resourceType"] == "ServiceRequest" and request["id"] == gid("ReferralRequest", "ref-1")
    assert request["status"] == "on-hold"  # STU3 suspended
    assert request["code"] == {"text": "Physiotherapy"}
    assert unmapped(request)["serviceRequested[1:]"] == [{"text": "Falls assessment"}]
    assert codes(request["category"][0]) == [("http://snomed.info/sct", "3457005")]
    assert request["performerType"] == {"text": "Physiotherapy"}
    assert request["performer"] == [{"reference": ref("Organization", "Organization", "org-1")}]
    assert request["requester"] == {"reference": ref("Practitioner", "Practitioner", "gp-1")}
    assert request["encounter"] == {"reference": ref("Encounter", "Encounter", "enc-1")}
    assert request["note"] == [{"text": "Reduced mobility after a fall."}]


def test_procedure_request_becomes_service_request(by_source: dict[str, dict[str, Any]]) -> None:
    request = by_source["ProcedureRequest/proc-1"]
    assert request["resourceType"] == "ServiceRequest" and request["id"] == gid("ProcedureRequest", "proc-1")
    assert request["status"] == "revoked"  # STU3 cancelled
    assert request["performer"] == [{"reference": ref("Practitioner", "Practitioner", "gp-1")}]
    assert request["code"] == {"text": "Annual medication review"}


# --- Observation, Encounter, reports, documents ---------------------------------------------------

def test_observation_context_becomes_encounter(by_source: dict[str, dict[str, Any]]) -> None:
    observation = by_source["Observation/obs-1"]
    assert "context" not in observation
    assert observation["encounter"] == {"reference": ref("Encounter", "Encounter", "enc-1")}


def test_observation_comment_interpretation_and_related(by_source: dict[str, dict[str, Any]]) -> None:
    observation = by_source["Observation/obs-1"]
    assert observation["note"] == [{"text": "Seated, left arm."}] and "comment" not in observation
    assert observation["interpretation"] == [{"text": "High"}]
    assert observation["hasMember"] == [{"reference": ref("Observation", "Observation", "obs-2")}]


def test_encounter_reason_becomes_reason_code(by_source: dict[str, dict[str, Any]]) -> None:
    encounter = by_source["Encounter/enc-1"]
    assert "reason" not in encounter
    assert codes(encounter["reasonCode"][0]) == [("http://snomed.info/sct", "38341003")]


def test_encounter_without_class_says_unknown(by_source: dict[str, dict[str, Any]]) -> None:
    assert by_source["Encounter/enc-1"]["class"]["code"] == "unknown"


def test_diagnostic_report(by_source: dict[str, dict[str, Any]]) -> None:
    report = by_source["DiagnosticReport/dr-1"]
    assert codes(report["category"][0]) == [(TERMINOLOGY + "v2-0074", "CH")]
    assert report["performer"] == [{"reference": ref("Organization", "Organization", "org-1")}]
    # the role has no R4 element; it is kept with the actor it qualifies
    assert unmapped(report)["performer[0]"] == {"role": {"text": "Laboratory"},
                                                "actor": {"reference": ref("Organization", "Organization", "org-1")}}
    assert report["conclusionCode"] == [{"text": "Raised blood pressure"}]
    assert report["encounter"] == {"reference": ref("Encounter", "Encounter", "enc-1")}


def test_document_reference(by_source: dict[str, dict[str, Any]]) -> None:
    document = by_source["DocumentReference/doc-1"]
    assert document["category"] == [{"text": "Letter"}] and "class" not in document
    assert document["date"] == "2026-08-02T12:00:00+00:00"
    assert document["content"][0]["attachment"]["creation"] == "2026-08-01T12:00:00+00:00"
    assert document["context"]["encounter"] == [{"reference": ref("Encounter", "Encounter", "enc-1")}]
    assert document["docStatus"] == "amended" and unmapped(document)["docStatus"] == "appended"


# --- generic differences -------------------------------------------------------------------------

def test_careconnect_extensions_renamed_to_uk_core_else_kept(by_source: dict[str, dict[str, Any]]) -> None:
    urls = extension_urls(by_source["Patient/pat-1"])
    assert UK_CORE_EXT + "EthnicCategory" in urls
    assert "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-CareConnect-GPC-RegistrationDetails-1" in urls
    assert UK_CORE_EXT + "ProblemSignificance" in extension_urls(by_source["Condition/cond-1"])


def test_stu3_code_system_urls_are_renamed(by_source: dict[str, dict[str, Any]]) -> None:
    assert codes(by_source["Condition/cond-1"]["category"][0]) == [(TERMINOLOGY + "condition-category",
                                                                     "problem-list-item")]


def test_unknown_elements_are_kept_not_dropped(by_source: dict[str, dict[str, Any]]) -> None:
    assert unmapped(by_source["Observation/obs-1"])["fooBar"] == "a sender-specific element"
    assert unmapped(by_source["Patient/pat-1"])["animal"] == {"species": {"text": "not a person"}}


def test_stu3_profile_claims_are_kept_as_content(by_source: dict[str, dict[str, Any]]) -> None:
    patient = by_source["Patient/pat-1"]
    assert "profile" not in patient.get("meta", {})
    assert unmapped(patient)["meta.profile"] == ["https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Patient-1"]


# --- CareTeam ------------------------------------------------------------------------------------

def test_care_team_names_practice_and_usual_gp_with_contacts(output: list[MappedRecord | Rejected]) -> None:
    [record] = [r for r in output if isinstance(r, MappedRecord) and r.resource["resourceType"] == "CareTeam"]
    team = record.resource
    assert team["subject"] == {"reference": ref("Patient", "Patient", "pat-1"),
                               "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}}
    assert record.patient_nhs_number == "9434765919"
    practice, gp = team["participant"]
    assert codes(practice["role"][0]) == [(CARE_TEAM_ROLE, "registered-gp-practice")]
    assert practice["member"] == {"reference": ref("Organization", "Organization", "org-1"), "display": "Beech Surgery",
                                  "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code",
                                                 "value": PRACTICE}}
    assert [e["valueContactPoint"]["value"] for e in practice["extension"] if e["url"] == EXT_PARTICIPANT_CONTACT] \
        == ["0161 496 0001", "beech.surgery@nhs.example"]
    assert codes(gp["role"][0]) == [(CARE_TEAM_ROLE, "usual-gp")]
    assert gp["member"] == {"reference": ref("Practitioner", "Practitioner", "gp-1"), "display": "Dr Ngozi Okafor",
                            "identifier": {"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "G8211456"}}
    assert gp["onBehalfOf"]["identifier"]["value"] == PRACTICE
    # the PractitionerRole's work phone first, then the practitioner's own contact
    assert [e["valueContactPoint"]["value"] for e in gp["extension"]] == ["0161 496 0002", "ngozi.okafor@nhs.example"]


def test_care_team_id_is_stable() -> None:
    def team_id() -> str:
        return next(r.resource["id"] for r in run(FIXTURE.read_bytes())
                    if isinstance(r, MappedRecord) and r.resource["resourceType"] == "CareTeam")
    assert team_id() == team_id() == stable_id(PRACTICE, "CareTeam", "registered-gp|pat-1")


# --- rejected entries ----------------------------------------------------------------------------

def test_malformed_entry_is_rejected_with_its_location_and_the_rest_maps() -> None:
    bundle = fixture_bundle()
    index = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["id"] == "cond-1")
    bundle["entry"][index]["resource"]["clinicalStatus"] = {"coding": [{"code": "active"}]}  # R4 shape in STU3
    output = run(bundle)
    [rejected] = [r for r in output if isinstance(r, Rejected)]
    assert rejected.location == f"entry[{index}].resource.clinicalStatus"
    assert "expected a string" in rejected.reason
    assert json.loads(rejected.raw) == bundle["entry"][index]
    mapped = [r for r in output if isinstance(r, MappedRecord)]
    assert len(mapped) == len(bundle["entry"])  # all other entries + the CareTeam


def test_entry_without_resource_type_is_rejected() -> None:
    bundle = fixture_bundle()
    del bundle["entry"][7]["resource"]["resourceType"]
    [rejected] = [r for r in run(bundle) if isinstance(r, Rejected)]
    assert rejected.location == "entry[7].resource.resourceType"


def test_entry_of_a_type_r4_does_not_have_is_rejected() -> None:
    bundle = fixture_bundle()
    bundle["entry"].append({"resource": {"resourceType": "ProcessRequest", "id": "x"}})
    [rejected] = [r for r in run(bundle) if isinstance(r, Rejected)]
    assert rejected.location == f"entry[{len(bundle['entry']) - 1}].resource.resourceType"
    assert "no R4 equivalent" in rejected.reason


def test_duplicate_entry_is_rejected() -> None:
    bundle = fixture_bundle()
    bundle["entry"].append(bundle["entry"][5])
    [rejected] = [r for r in run(bundle) if isinstance(r, Rejected)]
    assert "duplicate of entry[5]" in rejected.reason


def test_broken_contained_resource_is_located() -> None:
    bundle = fixture_bundle()
    bundle["entry"][10]["resource"]["contained"] = [
        {"resourceType": "Condition", "id": "c", "clinicalStatus": 3}]
    [rejected] = [r for r in run(bundle) if isinstance(r, Rejected)]
    assert rejected.location == "entry[10].resource.contained[0].clinicalStatus"


# --- whole-input errors --------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "location", "reason"), [
    (b"MSH|^~\\&|DNCASE", "/", "neither JSON nor XML"),
    (b"", "/", "empty"),
    (b'{"resourceType": "Bundle", "type": "collection", "entry": [', "line 1", "not valid JSON"),
    ('{"resourceType": "Bundle"}'.encode("utf-16"), "/", "neither JSON nor XML"),
    (b'{"resourceType": "Patient", "id": "x"}', "resourceType", "expected 'Bundle'"),
    (b'[1, 2]', "/", "neither JSON nor XML"),
    (b'{"resourceType": "Bundle", "type": "transaction"}', "type", "collection"),
    (b'{"resourceType": "Bundle", "type": "collection", "entry": {}}', "entry", "array"),
    (b'{"resourceType": "Bundle", "type": "collection", "entry": []}', "entry", "no Patient"),
    (b'<Patient xmlns="http://hl7.org/fhir"/>', "/", "expected a FHIR Bundle"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><Bundle xmlns="http://hl7.org/fhir"/>', "/",
     "XML refused"),
    (b'{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "id": "p"}}]}',
     "entry[0].resource.generalPractitioner", "no registered practice"),
])
def test_whole_input_errors(raw: bytes, location: str, reason: str) -> None:
    with pytest.raises(AdapterError) as caught:
        list(GpConnectAdapter().parse(raw, "bad"))
    assert caught.value.location.startswith(location) and reason in caught.value.reason


def test_invalid_utf8_is_refused() -> None:
    raw = FIXTURE.read_bytes().replace(b"Brook", b"Br\xffok")
    with pytest.raises(AdapterError, match="not valid JSON"):
        list(GpConnectAdapter().parse(raw, "bad"))


def test_deeply_nested_json_is_refused() -> None:
    bundle = fixture_bundle()
    deep: dict[str, Any] = {}
    for _ in range(100):
        deep = {"extension": [deep]}
    bundle["entry"][0]["resource"]["extension"].append(deep)
    with pytest.raises(AdapterError, match="nested"):
        list(GpConnectAdapter().parse(orjson.dumps(bundle), "deep"))
    # beyond orjson's own limit (1024) the answer is still an AdapterError, not a RecursionError
    hostile = b'{"a":' * 5000 + b"1" + b"}" * 5000
    with pytest.raises(AdapterError):
        list(GpConnectAdapter().parse(hostile, "deep"))


def test_oversized_input_is_refused() -> None:
    with pytest.raises(AdapterError, match="limit"):
        list(GpConnectAdapter(max_bytes=100).parse(FIXTURE.read_bytes(), "big"))


def test_map_of_a_bundle_without_patient_raises() -> None:
    bundle = fixture_bundle()
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Patient"]
    message = SourceMessage(format="gp-connect", origin="x", raw=b"", body=bundle, source_system=PRACTICE)
    with pytest.raises(AdapterError, match="no Patient"):
        GpConnectAdapter().map(message)


def test_second_patient_is_an_error() -> None:
    bundle = fixture_bundle()
    bundle["entry"].append({"resource": {**bundle["entry"][0]["resource"], "id": "pat-2"}})
    with pytest.raises(AdapterError, match="second Patient"):
        list(GpConnectAdapter().parse(orjson.dumps(bundle), "two"))


def test_bundle_time_that_is_not_an_instant_is_an_error() -> None:
    bundle = fixture_bundle()
    bundle["meta"]["lastUpdated"] = "yesterday"
    with pytest.raises(AdapterError) as caught:
        list(GpConnectAdapter().parse(orjson.dumps(bundle), "t"))
    assert caught.value.location == "meta.lastUpdated"


# --- XML -----------------------------------------------------------------------------------------

XML_BUNDLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<Bundle xmlns="http://hl7.org/fhir">
  <meta><lastUpdated value="2026-11-03T09:00:00+00:00"/></meta>
  <type value="collection"/>
  <entry><resource><Patient>
    <id value="pat-1"/>
    <identifier><system value="https://fhir.nhs.uk/Id/nhs-number"/><value value="9434765919"/></identifier>
    <generalPractitioner><reference value="Organization/org-1"/></generalPractitioner>
  </Patient></resource></entry>
  <entry><resource><Organization>
    <id value="org-1"/>
    <identifier><system value="https://fhir.nhs.uk/Id/ods-organization-code"/><value value="P81001"/></identifier>
    <name value="Beech Surgery"/>
  </Organization></resource></entry>
  <entry><resource><Condition>
    <id value="cond-1"/>
    <clinicalStatus value="active"/>
    <verificationStatus value="confirmed"/>
    <code><text value="Hypertension"/></code>
    <subject><reference value="Patient/pat-1"/></subject>
    <assertedDate value="2015-03-02"/>
  </Condition></resource></entry>
</Bundle>"""


def test_xml_bundle_maps_like_json() -> None:
    [message] = list(GpConnectAdapter().parse(XML_BUNDLE, "record.xml"))
    assert message.source_system == PRACTICE
    records = {r.source_id: r for r in GpConnectAdapter().map(message) if isinstance(r, MappedRecord)}
    condition = records["Condition/cond-1"].resource
    assert condition["id"] == gid("Condition", "cond-1") and condition["recordedDate"] == "2015-03-02"
    assert codes(condition["clinicalStatus"]) == [(TERMINOLOGY + "condition-clinical", "active")]
    assert condition["subject"] == {"reference": ref("Patient", "Patient", "pat-1")}
    assert records["Patient/pat-1"].patient_nhs_number == "9434765919"
    for record in records.values():
        get_fhir_model_class(record.resource["resourceType"]).model_validate(record.resource)


def test_xml_that_is_not_valid_stu3_is_an_error() -> None:
    raw = XML_BUNDLE.replace(b'<clinicalStatus value="active"/>', b"<clinicalStatus><x/></clinicalStatus>")
    with pytest.raises(AdapterError, match="STU3"):
        list(GpConnectAdapter().parse(raw, "record.xml"))
