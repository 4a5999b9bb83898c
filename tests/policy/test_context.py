"""patient_context reads Consent, CareTeam and RelatedPerson as the adapters write them."""
from __future__ import annotations

from datetime import date

from adapters import fhir_helpers as fh
from adapters.conventions import EXT_PARTICIPANT_CONTACT
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
