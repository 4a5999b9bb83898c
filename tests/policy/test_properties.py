"""Properties over random inputs: decide() on real objects agrees with the compiled table, and
the combining rules behave as documented."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy import CareTeamMember, ConsentDirective, Item, PatientContext
from gateway.policy.conditions import FACT_NAMES, Facts
from gateway.policy.model import RESTRICTIVENESS
from gateway.requester import Requester
from tests.hypothesis_profiles import examples

from .conftest import PACK

_ENGINE = None


def engine():  # type: ignore[no-untyped-def]
    global _ENGINE
    if _ENGINE is None:
        from gateway.policy import PolicyEngine

        _ENGINE = PolicyEngine.load(PACK)
    return _ENGINE


def _pairs() -> list[tuple[str, str]]:
    v = engine().vocabulary
    return [(r, p) for p in sorted(v.purposes) for r in sorted(v.purposes[p].roles)]


combos = st.tuples(
    st.sampled_from(_pairs()),
    st.sampled_from(sorted(engine().vocabulary.categories)),
    st.tuples(*[st.booleans() for _ in FACT_NAMES]).map(lambda t: Facts(*t)),
    st.sampled_from(["", "AllergyIntolerance", "Condition", "Flag"]),
)


def build(role: str, purpose: str, cat: str, f: Facts, rt: str) -> tuple[Requester, PatientContext, Item]:
    requester = Requester("u", "n", role, "REQ", purpose, "because" if f.justification else None,
                          "9434765919" if f.own_record else "4010232137")
    team = (CareTeamMember("member", "REQ"),) if f.relationship else (CareTeamMember("member", "OTHER"),)
    directives = ((ConsentDirective("o", "deny", (cat,), ("REQ",)),) if f.objection else ()) + (
        (ConsentDirective("c", "permit", (cat,), ("REQ",)),) if f.consent_permits else ())
    patient = PatientContext("p", "9434765919", directives, f.opt_out, team)
    return requester, patient, Item({"resourceType": rt}, (cat,), "REQ" if f.recorded_by_requester else "OTHER")


@settings(max_examples=examples(400), deadline=None)
@given(combos)
def test_decide_on_objects_agrees_with_the_table(combo):
    (role, purpose), cat, f, rt = combo
    e = engine()
    requester, patient, item = build(role, purpose, cat, f, rt)
    decision = e.decide(requester, patient, item)
    if not e.check_request(requester).allowed:
        assert decision.effect == "hide"
        return
    if e.vocabulary.purposes[purpose].grants_relationship:
        f = f._replace(relationship=True)
    assert decision.effect == e.outcome(role, purpose, cat, f, rt).effect


@settings(max_examples=examples(300), deadline=None)
@given(combos, st.sampled_from(sorted(engine().vocabulary.categories)))
def test_a_second_category_never_loosens(combo, other):
    (role, purpose), cat, f, rt = combo
    e = engine()
    requester, patient, item = build(role, purpose, cat, f, rt)
    alone = e.decide(requester, patient, item)
    both = e.decide(requester, patient, Item(item.resource, (cat, other), item.holder_org))
    assert RESTRICTIVENESS[both.effect] >= RESTRICTIVENESS[alone.effect]


@settings(max_examples=examples(300), deadline=None)
@given(combos)
def test_an_objection_never_loosens_direct_care(combo):
    (role, _), cat, f, rt = combo
    e = engine()
    if "direct_care" not in e.vocabulary.purposes or role not in e.vocabulary.purposes["direct_care"].roles:
        return
    free = e.outcome(role, "direct_care", cat, f._replace(objection=False), rt)
    objected = e.outcome(role, "direct_care", cat, f._replace(objection=True), rt)
    assert RESTRICTIVENESS[objected.effect] >= RESTRICTIVENESS[free.effect]
