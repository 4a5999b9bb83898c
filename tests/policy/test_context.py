"""patient_context reads Consent, CareTeam and RelatedPerson as the adapters write them."""
from __future__ import annotations

from datetime import date

from adapters import fhir_helpers as fh
from adapters.conventions import DATA_CATEGORY, EXT_PARTICIPANT_CONTACT
from gateway.policy import Item, patient_context
from gateway.requester import Requester

TODAY = date(2026, 11, 30)  # every context here is built as of this day, not the wall clock

PATIENT = {"resourceType": "Patient", "id": "p1", "identifier": [fh.nhs_identifier("9434765919")],
           "generalPractitioner": [fh.org_ref("P81001", "Beech Surgery")]}


def _resources() -> list[dict]:
    worker = fh.participant("allocated-social-worker", fh.person_ref(None, "W-1", "Tom Ellis"),
                            on_behalf_of=fh.org_ref("C8Q2R"), team="ASC-NORTH",
                            contacts=fh.contact_points("0161 555 0199", "tom.ellis@council.example"))
    relative = fh.participant("next-of-kin", fh.ref("RelatedPerson", "r1", "Ann Brook"),
                              contacts=fh.contact_points("07700 900123"))
    former = fh.participant("district-nurse", fh.person_ref(None, "N1", "Old Nurse"),
                            on_behalf_of=fh.org_ref("RX9"), start="2020-01-01", end="2021-01-01")
    return [
        fh.care_team("ct1", "p1", "Adult social care", [worker, relative, former], "C8Q2R"),
        fh.consent("c1", patient=fh.ref("Patient", "p1"), policy="sharing-preference",
                   provision=fh.sharing_provision(False, "P81001", "case_notes")),
        fh.consent("c2", patient=fh.ref("Patient", "p1"), policy="sharing-preference",
                   provision=fh.sharing_provision(True, "RX1", "capacity_assessment"),
                   performer=fh.ref("RelatedPerson", "lpa1")),
        fh.consent("c3", patient=fh.ref("Patient", "p1"), policy="sharing-preference", status="entered-in-error",
                   provision=fh.sharing_provision(False, None, None)),
        fh.consent("o1", patient=fh.ref("Patient", "p1"), policy="national-data-opt-out",
                   provision=fh.opt_out_provision(True), recorded="2025-01-01"),
        fh.consent("o2", patient=fh.ref("Patient", "p1"), policy="national-data-opt-out",
                   provision=fh.opt_out_provision(False), recorded="2024-01-01"),
    ]


def test_directives_opt_out_and_care_team():
    ctx = patient_context(PATIENT, _resources(), today=TODAY)
    assert ctx.nhs_number == "9434765919" and ctx.national_opt_out is True  # latest opt-out Consent wins
    deny, permit = ctx.directives
    assert (deny.type, deny.categories, deny.recipient_orgs, deny.given_by) == (
        "deny", ("case_notes",), ("P81001",), "patient")
    assert (permit.type, permit.categories, permit.recipient_orgs, permit.given_by) == (
        "permit", ("capacity_assessment",), ("RX1",), "attorney")
    by_role = {m.role: m for m in ctx.care_team}
    sw = by_role["allocated-social-worker"]
    assert (sw.org, sw.team, sw.name, sw.phone, sw.email) == ("C8Q2R", "ASC-NORTH", "Tom Ellis", "0161 555 0199",
                                                             "tom.ellis@council.example")
    assert by_role["registered-gp-practice"].org == "P81001"
    assert by_role["next-of-kin"].org is None  # a relative is not council staff
    assert "district-nurse" not in by_role  # ended participation is no relationship


def test_national_opt_out_argument_overrides():
    assert patient_context(PATIENT, _resources(), national_opt_out=False, today=TODAY).national_opt_out is False


def test_context_drives_decisions(engine):
    ctx = patient_context(PATIENT, _resources(), today=TODAY)
    gp = Requester("u", "n", "gp", "P81001", "direct_care")
    note = Item({"resourceType": "DocumentReference"}, ("case_notes",), "C8Q2R", "ASC-NORTH")
    assert engine.decide(Requester("u", "n", "social_worker", "P81001", "direct_care"), ctx, note).effect == "notice"
    d = engine.decide(gp, ctx, note)
    assert d.notice is not None and "Tom Ellis" in d.notice.message and "objection" in d.notice.message
    outsider = Requester("u", "n", "district_nurse", "RX1", "direct_care")  # not in the care team...
    mca = Item({"resourceType": "Observation"}, ("capacity_assessment",), "C8Q2R")
    assert engine.decide(outsider, ctx, mca).effect == "release"  # ...but the attorney consented for RX1
    assert engine.decide(outsider, ctx, Item({}, ("visits",), "C8Q2R")).effect == "notice"
    assert EXT_PARTICIPANT_CONTACT  # the contact extension the adapters write is what we read


def test_a_participation_counts_up_to_and_including_its_end_date():
    nurse = fh.participant("district-nurse", fh.person_ref(None, "N2", "Current Nurse"),
                           on_behalf_of=fh.org_ref("RX1"), start="2026-01-01", end="2026-12-31")
    team = [fh.care_team("ct2", "p1", "District nursing", [nurse], "RX1")]

    def roles(today: date) -> set[str]:
        return {m.role for m in patient_context(PATIENT, team, today=today).care_team}

    assert "district-nurse" in roles(date(2026, 12, 31))
    assert "district-nurse" not in roles(date(2027, 1, 1))


# -- which choice counts: the most recent explicit choice wins (docs/policy.md) -------------------------

def _objection(cid: str, when: str | None, *, category: str | None = "case_notes", org: str | None = "P81001",
               status: str = "active", start: str | None = None, end: str | None = None) -> dict:
    provision = fh.sharing_provision(False, org, category)
    if start or end:
        provision["period"] = {k: v for k, v in (("start", start), ("end", end)) if v}
    return fh.consent(cid, patient=fh.ref("Patient", "p1"), policy="sharing-preference", provision=provision,
                      status=status, recorded=when)


def _denied(*consents: dict) -> set[tuple[tuple[str, ...], tuple[str, ...]]]:
    ctx = patient_context(PATIENT, list(consents), today=TODAY)
    return {(d.categories, d.recipient_orgs) for d in ctx.directives if d.type == "deny"}


def test_a_later_withdrawal_takes_back_an_earlier_objection_whoever_recorded_either():
    source = _objection("council-1", "2025-03-01")
    withdrawn = _objection("api-1", "2026-11-29T10:00:00+00:00", status="inactive")
    assert _denied(source) == {(("case_notes",), ("P81001",))}
    assert _denied(source, withdrawn) == set()
    assert _denied(withdrawn, source) == set()  # order of resources never matters
    # The source re-sends the older state: still withdrawn. A new objection after the withdrawal counts.
    assert _denied(source, withdrawn, dict(source)) == set()
    assert _denied(source, withdrawn, _objection("council-2", "2026-11-30")) == {(("case_notes",), ("P81001",))}


def test_a_withdrawal_covers_only_what_it_names_and_broader_choices_cover_narrower_ones():
    broad = _objection("b", "2025-01-01", category=None, org="RX1")  # everything, to RX1
    narrow_back = _objection("w", "2026-01-01", category="case_notes", org="RX1", status="inactive")
    assert _denied(broad, narrow_back) == {((), ("RX1",))}  # a narrower withdrawal leaves the broad one
    two = fh.consent("two", patient=fh.ref("Patient", "p1"), policy="sharing-preference", recorded="2025-01-01",
                     provision={"type": "deny", "securityLabel": [fh.coding(DATA_CATEGORY, "case_notes"),
                                                                  fh.coding(DATA_CATEGORY, "visits")],
                                "actor": [{"reference": fh.org_ref("RX1")}]})
    assert _denied(two, narrow_back) == {(("visits",), ("RX1",))}  # part of a choice is taken back
    everyone_back = _objection("e", "2026-02-01", category=None, org=None, status="inactive")
    assert _denied(broad, two, everyone_back) == set()
    detail = _objection("d", "2025-01-01", category="risk_flag.detail", org="RX1")
    parent_back = _objection("p", "2026-01-01", category="risk_flag", org="RX1", status="inactive")
    assert _denied(detail, parent_back) == set()  # a category covers its field groups


def test_undated_choices_are_oldest_ties_both_stand_and_periods_bound_what_stands():
    undated = _objection("u", None)
    assert _denied(undated, _objection("w", "2020-01-01", status="inactive")) == set()
    same = _objection("w2", "2025-03-01", status="inactive")
    assert _denied(_objection("s", "2025-03-01"), same) == {(("case_notes",), ("P81001",))}
    assert _denied(_objection("old", "2025-01-01", end="2026-01-01")) == set()
    assert _denied(_objection("soon", "2025-01-01", start="2027-01-01")) == set()
    assert _denied(_objection("now", "2025-01-01", start="2026-01-01", end="2026-12-31")) == {
        (("case_notes",), ("P81001",))}
    # a later time-limited objection still supersedes an earlier open-ended one for what it covers
    assert _denied(_objection("open", "2024-01-01"), _objection("limited", "2025-01-01", end="2025-06-30")) == set()
    ignored = _objection("err", "2026-11-01", status="entered-in-error")
    assert _denied(_objection("s", "2025-03-01"), ignored) == {(("case_notes",), ("P81001",))}


def test_national_opt_out_latest_wins_and_a_tie_is_opted_out():
    def opt(cid: str, when: str, out: bool) -> dict:
        return fh.consent(cid, patient=fh.ref("Patient", "p1"), policy="national-data-opt-out",
                          provision=fh.opt_out_provision(out), recorded=when)

    assert patient_context(PATIENT, [opt("a", "2025-01-01", True), opt("b", "2026-11-30T09:00:00Z", False)],
                           today=TODAY).national_opt_out is False
    assert patient_context(PATIENT, [opt("a", "2026-01-01T00:00:00+00:00", False), opt("b", "2026-01-01", True)],
                           today=TODAY).national_opt_out is True
