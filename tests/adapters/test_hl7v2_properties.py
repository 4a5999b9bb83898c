"""Property: whatever happens to an HL7 file, the adapter answers with messages, mapped records or
rejections (or an AdapterError for the whole input), never another exception, and what it maps is
valid R4."""
from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError, MappedRecord, Rejected, SourceMessage
from adapters.community_hl7v2 import Hl7v2Adapter
from gateway.ingest.validate import problem
from tests.adapters.corruption import corrupted as corrupted_bytes
from tests.hypothesis_profiles import examples

FIXTURES = Path(__file__).parent.parent / "fixtures" / "hl7v2"
SEEDS = [(FIXTURES / name).read_bytes() for name in (
    "formats_example_oru.hl7", "adt_caseload_lifecycle.hl7", "oru_all_local_codes.mllp", "oru_corrections.hl7")]
SPECIAL = [b"|", b"^", b"~", b"\\", b"&", b"\r", b"\n", b"\x0b", b"\x1c", b"\xff", b"\xc3", b"MSH|^~\\&|",
           b"\\F\\", b"\\X0D\\", b"\\", b"OBX|", b"NTE|", b"PID|||", b"20261341", b"9" * 30, b"\x00"]
ADAPTER = Hl7v2Adapter()


def corrupted() -> st.SearchStrategy[bytes]:
    return corrupted_bytes(SEEDS, SPECIAL, max_edits=8, max_delete=40, max_chunk=12)


def check(raw: bytes) -> None:
    try:
        items = list(ADAPTER.parse(raw, "fuzz.hl7"))
    except AdapterError:
        return
    for item in items:
        assert isinstance(item, (SourceMessage, Rejected))
        if isinstance(item, Rejected):
            assert item.location and item.reason
            continue
        for out in ADAPTER.map(item):
            assert isinstance(out, (MappedRecord, Rejected))
            if isinstance(out, MappedRecord):
                assert problem(out.resource) is None, (out.location, problem(out.resource))


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted())
def test_random_corruption_only_yields_records_rejections_or_adapter_error(raw: bytes) -> None:
    check(raw)


@settings(max_examples=examples(200), deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    check(raw)


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(st.text(alphabet="MSHPIDOBXNTE|^~\\&0123456789 .-", max_size=60), max_size=8))
def test_arbitrary_segment_soup(lines: list[str]) -> None:
    check(("MSH|^~\\&|A|RX1|B|C|20260101||ORU^R01|1|P|2.4\r" + "\r".join(lines)).encode())
