"""Attack table, adapters: malformed input (a real export cut short, bytes flipped, junk spliced in)
is a precise problem — an AdapterError or a Rejected item, kept in quarantine — never another
exception, and what does map is valid R4 (the pipeline stores it)."""
from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError, MappedRecord, Rejected
from adapters.synthetic.cld import cld_return
from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.hl7v2 import hl7v2_messages
from adapters.synthetic.opt_out import opt_out_list
from adapters.synthetic.people import invent_people
from adapters.synthetic.social_care import export_xml
from gateway.ingest.registry import load_adapters
from gateway.ingest.validate import problem

PEOPLE = invent_people(4, seed=13)
SEEDS = {
    "gp-connect": orjson.dumps(gp_connect_bundle(PEOPLE[0])),
    "hl7v2": hl7v2_messages(PEOPLE[:2]),
    "social-care": export_xml(PEOPLE[1]),
    "cld": cld_return(PEOPLE).encode(),
    "opt-out": opt_out_list(PEOPLE).encode(),
}
JUNK = [b"\x00", b"\xff\xfe", b"<", b"]]>", b'"', b"{", b"|", b"^~\\&", b"\r", b"\n", b",", b"&#0;", b"\xe2\x80\xae",
        b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>", b"=HYPERLINK(1)", b"9" * 40]


@st.composite
def mutated(draw, seed: bytes) -> bytes:  # type: ignore[no-untyped-def]
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["cut", "flip", "splice", "drop"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "cut":
            del data[at:]
        elif kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "splice":
            data[at:at] = draw(st.sampled_from(JUNK))
        elif kind == "drop":
            del data[at:at + draw(st.integers(1, 64))]
    return bytes(data)


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_malformed_input_is_a_precise_problem_never_a_crash(fmt: str) -> None:
    adapter = load_adapters()[fmt]

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(raw=mutated(SEEDS[fmt]))
    def run(raw: bytes) -> None:
        try:
            parsed = list(adapter.parse(raw, "fuzz"))
        except AdapterError:
            return
        for message in parsed:
            if isinstance(message, Rejected):
                continue
            try:
                mapped = list(adapter.map(message))
            except AdapterError:
                continue
            for item in mapped:
                assert isinstance(item, MappedRecord | Rejected)

    run()


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_mapped_output_of_malformed_input_is_valid_or_refused_by_validation(fmt: str) -> None:
    """Whatever maps from a damaged input either validates or is caught by the pipeline's validation
    step (which quarantines it): ``problem`` must answer, not raise."""
    adapter = load_adapters()[fmt]

    @settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(raw=mutated(SEEDS[fmt]))
    def run(raw: bytes) -> None:
        try:
            messages = [m for m in adapter.parse(raw, "fuzz") if not isinstance(m, Rejected)]
        except AdapterError:
            return
        for message in messages:
            try:
                for item in adapter.map(message):
                    if isinstance(item, MappedRecord):
                        problem(item.resource)  # None or a reason: never an exception
            except AdapterError:
                continue

    run()
