"""GP Connect records as real senders produce them: nothing silently lost.

Fixtures: ``tests/fixtures/gp_connect/spec_examples/`` are the GP Connect specification's own
structured-record examples (Apache-2.0, see the README there; test patient only), unchanged apart
from removing the web page's highlight markers. ``supplier_shapes.json`` is synthetic and
reproduces the shapes GP system suppliers send that R4 validation refused: id-less Lists with
warning codes and notes, ``Timing.repeat.when`` as one code, ``Location.type`` as one concept,
``Patient.generalPractitioner`` as one object.

Every test counts, per resource type, that each source entry was either stored (valid R4) or
refused with a reason.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import orjson
import pytest

from adapters.base import MappedRecord, Rejected, SourceMessage, stable_id
from adapters.gp_connect import GpConnectAdapter
from adapters.gp_connect.index import R4_TYPE_OF
from adapters.gp_connect.lists import HINT_RECORD_INCOMPLETE, RECORD_WARNING_SYSTEM
from gateway.ingest.validate import problem

FIXTURES = Path(__file__).parents[1] / "fixtures" / "gp_connect"
SPEC_EXAMPLES = sorted((FIXTURES / "spec_examples").glob("*.json"))
SUPPLIER = FIXTURES / "supplier_shapes.json"


def run(raw: bytes) -> list[MappedRecord | Rejected]:
    adapter = GpConnectAdapter()
    [message] = list(adapter.parse(raw, "fixture.json"))
    assert isinstance(message, SourceMessage)
    return list(adapter.map(message))


def accounting(raw: bytes) -> tuple[Counter[str], Counter[str], list[tuple[str, str]]]:
    """(source entries per R4 type, stored per type, refusals as (location, reason))."""
    bundle = json.loads(raw)
    sent = Counter(R4_TYPE_OF.get(e["resource"]["resourceType"], e["resource"]["resourceType"])
                   for e in bundle["entry"])
    stored: Counter[str] = Counter()
    refused: list[tuple[str, str]] = []
    for item in run(raw):
        if isinstance(item, Rejected):
            refused.append((item.location, item.reason))
        elif (why := problem(item.resource)) is not None:
            refused.append((item.location, why))
        elif not item.hints.get("derived"):  # the GP CareTeam is the gateway's own, not a source entry
            stored[item.resource["resourceType"]] += 1
    return sent, stored, refused


def records(raw: bytes) -> list[MappedRecord]:
    return [r for r in run(raw) if isinstance(r, MappedRecord)]


@pytest.mark.parametrize("path", [*SPEC_EXAMPLES, SUPPLIER], ids=lambda p: p.name)
def test_every_entry_of_a_real_shaped_record_is_stored(path: Path) -> None:
    sent, stored, refused = accounting(path.read_bytes())
    assert refused == []
    assert stored == sent  # per resource type: every entry in, every entry stored


def test_spec_examples_are_there() -> None:
    assert len(SPEC_EXAMPLES) >= 4


def test_conformant_lists_without_id_get_a_stable_id_from_practice_patient_and_code() -> None:
    raw = SUPPLIER.read_bytes()
    lists = {r.resource["code"]["coding"][0]["code"]: r for r in records(raw) if r.resource["resourceType"] == "List"}
    assert set(lists) == {"933361000000108", "717711000000103", "886921000000105", "1102181000000102",
                          "1149501000000101"}
    meds = lists["933361000000108"]
    assert meds.resource["id"] == stable_id("A99968", "List", "9000000009|code:933361000000108")
    # the same record sent again (as a new response, with fresh urn:uuid fullUrls) updates the same Lists
    bundle = json.loads(raw)
    for i, entry in enumerate(bundle["entry"]):
        entry["fullUrl"] = f"urn:uuid:00000000-0000-4000-8000-{i:012d}"
    again = {r.resource["id"] for r in records(orjson.dumps(bundle)) if r.resource["resourceType"] == "List"}
    assert again == {r.resource["id"] for r in lists.values()}


def test_lists_keep_every_note_and_empty_reason() -> None:
    lists = {r.resource["title"]: r.resource for r in records(SUPPLIER.read_bytes())
             if r.resource["resourceType"] == "List"}
    allergies = lists["Allergies and adverse reactions"]
    assert allergies["emptyReason"]["coding"][0]["code"] == "no-content-recorded"
    assert "no allergies" in allergies["note"][0]["text"]
    assert lists["Medications and medical devices"]["note"][0]["text"].startswith(
        "Items excluded due to confidentiality")
    assert "not yet complete" in lists["Problems"]["note"][0]["text"]


def test_record_warnings_are_tagged_on_the_list_and_hinted() -> None:
    out = records(SUPPLIER.read_bytes())
    tags = {r.resource["title"]: [(t["system"], t["code"]) for t in r.resource.get("meta", {}).get("tag", [])]
            for r in out if r.resource["resourceType"] == "List"}
    assert tags["Medications and medical devices"] == [(RECORD_WARNING_SYSTEM, "confidential-items")]
    assert tags["Problems"] == [(RECORD_WARNING_SYSTEM, "data-in-transit")]
    assert tags["Immunisations"] == [(RECORD_WARNING_SYSTEM, "confidential-items")]  # said by the note alone
    assert tags["Consultations"] == [] and tags["Allergies and adverse reactions"] == []
    meds = next(r for r in out if r.resource.get("title") == "Medications and medical devices")
    assert meds.hints[HINT_RECORD_INCOMPLETE] == ["confidential-items"]
    # the warning extension itself is kept as sent
    assert meds.resource["extension"][0]["valueCode"] == "confidential-items"
    patient = next(r for r in out if r.resource["resourceType"] == "Patient")
    assert patient.hints[HINT_RECORD_INCOMPLETE] == ["confidential-items", "data-in-transit"]


def test_two_lists_with_one_code_are_told_apart_by_title_and_a_list_without_code_is_refused() -> None:
    bundle = json.loads(SUPPLIER.read_bytes())
    first = next(e for e in bundle["entry"] if e["resource"].get("title") == "Consultations")
    twin = json.loads(json.dumps(first))
    twin["resource"]["title"] = "Consultations (other query)"
    nameless = json.loads(json.dumps(first))
    del nameless["resource"]["code"], nameless["resource"]["title"]
    bundle["entry"] += [twin, nameless]
    out = run(orjson.dumps(bundle))
    titles = {r.resource["id"]: r.resource["title"] for r in out
              if isinstance(r, MappedRecord) and r.resource["resourceType"] == "List"
              and r.resource["code"]["coding"][0]["code"] == "1149501000000101"}
    assert sorted(titles.values()) == ["Consultations", "Consultations (other query)"]
    [refused] = [r for r in out if isinstance(r, Rejected)]
    assert refused.location == f"entry[{len(bundle['entry']) - 1}].resource.code"
    assert "cannot be told apart" in refused.reason


def test_single_values_r4_made_repeating_are_converted_everywhere() -> None:
    out = {r.source_id: r.resource for r in records(SUPPLIER.read_bytes())}
    request = out["MedicationRequest/mr1"]
    assert request["dosageInstruction"][0]["timing"]["repeat"]["when"] == ["MORN"]
    assert request["dosageInstruction"][0]["text"] == "One tablet in the morning"
    assert isinstance(request["basedOn"], list)
    assert out["MedicationStatement/ms1"]["dosage"][0]["timing"]["repeat"]["when"] == ["MORN"]
    assert out["Location/loc1"]["type"][0]["text"] == "GP surgery"
    assert out["Patient/p1"]["generalPractitioner"] == [
        {"reference": f"Practitioner/{stable_id('A99968', 'Practitioner', 'gp1')}"}]


def test_an_array_where_r4_allows_one_value_keeps_the_rest() -> None:
    out = {r.source_id: r.resource for r in records(SUPPLIER.read_bytes())}
    duration = out["MedicationRequest/mr1"]["dispenseRequest"]["expectedSupplyDuration"]
    assert duration["code"] == "d"  # one item: simply unwrapped
    bundle = json.loads(SUPPLIER.read_bytes())
    request = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "mr1")
    request["dispenseRequest"]["expectedSupplyDuration"]["code"] = ["d", "day"]
    [mapped] = [r for r in records(orjson.dumps(bundle)) if r.source_id == "MedicationRequest/mr1"]
    assert mapped.resource["dispenseRequest"]["expectedSupplyDuration"]["code"] == "d"
    kept = [json.loads(e["valueString"]) for e in mapped.resource["extension"] if "valueString" in e]
    assert {"path": "dispenseRequest.expectedSupplyDuration.code[1:]", "value": ["day"]} in kept
    assert problem(mapped.resource) is None


def test_nested_elements_r4_lacks_are_kept_as_unmapped_content() -> None:
    bundle = json.loads(SUPPLIER.read_bytes())
    location = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "loc1")
    location["address"]["stu3OnlyThing"] = "kept"
    [mapped] = [r for r in records(orjson.dumps(bundle)) if r.source_id == "Location/loc1"]
    kept = [json.loads(e["valueString"]) for e in mapped.resource["extension"]]
    assert {"path": "address.stu3OnlyThing", "value": "kept"} in kept
    assert problem(mapped.resource) is None


def test_conform_leaves_valid_r4_unchanged() -> None:
    """The generic step only reshapes what R4 would refuse: applied to its own output it is a no-op."""
    from adapters.gp_connect.cardinality import conform, resource_model

    for path in [*SPEC_EXAMPLES, SUPPLIER, FIXTURES / "structured_record.json"]:
        for record in records(path.read_bytes()):
            again = json.loads(json.dumps(record.resource))
            conform(again, resource_model(again["resourceType"]))
            assert again == record.resource, (path.name, record.source_id)


@pytest.mark.parametrize(("note", "code"), [
    ("Items excluded due to confidentiality and/or patient preferences.", "confidential-items"),
    ("Patient record transfer from previous GP practice not yet complete; information recorded before "
     "01-Oct-2026 may be missing.", "data-in-transit"),
    ("Patient record contains some items in the GP practice workflow that have not been reviewed for inclusion "
     "in this message; information recorded before 01-Oct-2026 may be missing.", "data-awaiting-filing"),
    ("Patient data may be incomplete as there is data supplied by a third party awaiting review before becoming "
     "available.", "data-awaiting-filing"),
])
def test_each_warning_text_is_recognised_from_the_note_alone(note: str, code: str) -> None:
    from adapters.gp_connect.lists import warning_codes

    assert warning_codes({"resourceType": "List", "note": [{"text": note}]}) == [code]
    assert warning_codes({"resourceType": "List", "note": [{"text": "No known allergies"}]}) == []


def _operations(raw: bytes) -> int:
    """Python-level calls made to parse and map ``raw``: a machine-independent measure of work."""
    import sys

    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        run(raw)
    finally:
        sys.setprofile(None)
    return calls


def _bigger(n: int) -> bytes:
    """The supplier bundle with ``n`` extra medication items, each listed in the medications List."""
    bundle = json.loads(SUPPLIER.read_bytes())
    template = next(e for e in bundle["entry"] if e["resource"].get("id") == "ms1")
    meds = next(e["resource"] for e in bundle["entry"]
                if e["resource"].get("title") == "Medications and medical devices")
    for i in range(n):
        item = json.loads(json.dumps(template))
        item["resource"]["id"] = f"ms-extra-{i}"
        bundle["entry"].append(item)
        meds["entry"].append({"item": {"reference": f"MedicationStatement/ms-extra-{i}"}})
    return orjson.dumps(bundle)


def test_work_grows_linearly_with_the_bundle() -> None:
    run(_bigger(1))  # warm the per-model caches (R4B model metadata) so that only the per-entry work is compared
    small, large = _operations(_bigger(50)), _operations(_bigger(200))
    assert large / small < 4.5, (small, large)
