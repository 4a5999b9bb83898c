"""Property: a corrupted export yields records and rejections, or an AdapterError for the whole
document, never another exception; whatever maps is valid R4."""
from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError, MappedRecord, Rejected, SourceMessage
from adapters.social_care import SocialCareAdapter
from gateway.ingest.validate import problem
from tests.adapters.corruption import corrupted as corrupted_bytes
from tests.hypothesis_profiles import examples

FIXTURES = Path(__file__).parent.parent / "fixtures" / "social_care"
SEEDS = [(FIXTURES / name).read_bytes() for name in (
    "formats_example.xml", "formats_example_verbatim.xml", "retractions_and_extras.xml")]
SPECIAL = [b"<", b">", b"&", b"&amp;", b'"', b"'", b"=", b"/", b"\xff", b"\x00", b"<!DOCTYPE x>",
           b'status="entered-in-error" ', b'updated="2026-13-01T00:00:00Z" ', b'id="" ', b"<Alert/>",
           b"<Unknown>x</Unknown>", b'date="x" ', b'callsPerDay="0" ', b'times="25:00" ', b"]]>",
           b"<![CDATA[x]]>", b"<!-- c -->", b"<?pi x?>", b'outcome="maybe" ', b'givenBy="attorney" ']
ADAPTER = SocialCareAdapter()


def corrupted() -> st.SearchStrategy[bytes]:
    return corrupted_bytes(SEEDS, SPECIAL, max_edits=6, max_delete=30, max_chunk=8)


@st.composite
def attribute_edits(draw: st.DrawFn) -> bytes:
    """Well-formed documents whose attribute values are replaced by arbitrary text."""
    text = draw(st.sampled_from(SEEDS[:1] + SEEDS[2:])).decode()
    import re
    values = list(re.finditer(r'="([^"]*)"', text))
    for match in draw(st.lists(st.sampled_from(values), max_size=6, unique_by=lambda m: m.start())):
        replacement = draw(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12))
        escaped = replacement.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
        text = text.replace(match.group(0), f'="{escaped}"', 1)
    return text.encode()


def check(raw: bytes) -> None:
    try:
        items = list(ADAPTER.parse(raw, "fuzz.xml"))
    except AdapterError as exc:
        assert exc.location and exc.reason
        return
    for item in items:
        assert isinstance(item, (SourceMessage, Rejected))
        if isinstance(item, Rejected):
            continue
        for out in ADAPTER.map(item):
            assert isinstance(out, (MappedRecord, Rejected))
            if isinstance(out, MappedRecord):
                assert problem(out.resource) is None, (out.location, problem(out.resource))
                assert out.hints.get("section")


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted())
def test_random_corruption_only_yields_records_rejections_or_adapter_error(raw: bytes) -> None:
    check(raw)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attribute_edits())
def test_arbitrary_attribute_values(raw: bytes) -> None:
    check(raw)


@settings(max_examples=examples(150), deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    check(raw)
