"""Property: whatever a sender breaks in a valid Bundle, the adapter answers with an AdapterError for
the whole input or with MappedRecord / Rejected items — never another exception, never a crash
inside a mapper (a Rejected says which element, not "unexpected structure")."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError, MappedRecord, Rejected
from adapters.gp_connect import GpConnectAdapter
from adapters.synthetic.gp_connect import gp_connect_bundle
from adapters.synthetic.people import invent_people
from tests.hypothesis_profiles import examples

FIXTURE = Path(__file__).parents[1] / "fixtures" / "gp_connect" / "structured_record.json"
SEEDS = (orjson.loads(FIXTURE.read_bytes()), gp_connect_bundle(invent_people(3, seed=2)[2]))

Path_ = tuple[str | int, ...]

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                         st.sampled_from(["", "active", "n", "Patient/pat-1", "urn:uuid:x", "#c", "Encounter/enc-1",
                                          "entered-in-error", "2026-13-45", "has-member"]))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["reference", "coding", "system", "code", "text", "url", "agent", "actor", "resourceType", "id", "x"]),
        inner, max_size=3)), max_leaves=6)


def _paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


def _mutate(bundle: dict[str, Any], path: Path_, action: str, value: Any) -> None:
    parent: Any = bundle
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = value
    elif action == "wrap":  # a single value where an array was expected, or the reverse
        parent[last] = [parent[last]] if not isinstance(parent[last], list) else (parent[last] or [None])[0]


@st.composite
def broken_bundles(draw: st.DrawFn) -> dict[str, Any]:
    bundle = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(bundle)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        _mutate(bundle, path, draw(st.sampled_from(["delete", "replace", "wrap"])), draw(json_values))
    return bundle


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_bundles())
def test_broken_bundles_give_records_rejections_or_adapter_error(bundle: dict[str, Any]) -> None:
    adapter = GpConnectAdapter()
    try:
        messages = list(adapter.parse(orjson.dumps(bundle), "mutated.json"))
        output = [item for message in messages for item in adapter.map(message)]
    except AdapterError as exc:
        assert exc.reason and exc.location
        event("whole input refused")
        return
    event("some entries rejected" if any(isinstance(i, Rejected) for i in output) else "all mapped")
    assert output and all(isinstance(item, (MappedRecord, Rejected)) for item in output)
    for item in output:
        if isinstance(item, Rejected):
            assert item.location.startswith("entry[") and item.raw
            assert not item.reason.startswith("unexpected structure"), item
        else:
            assert isinstance(item.resource.get("id"), str) and isinstance(item.resource.get("resourceType"), str)
            orjson.dumps(item.resource)  # still plain JSON


@settings(max_examples=examples(150), deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_bytes_never_raise_anything_but_adapter_error(raw: bytes) -> None:
    try:
        list(GpConnectAdapter().parse(raw, "noise"))
    except AdapterError:
        pass
