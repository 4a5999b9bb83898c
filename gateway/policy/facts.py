"""The facts of one decision, read from the requester, the patient context and the item."""
from __future__ import annotations

from gateway.policy.conditions import Facts
from gateway.policy.model import Candidate, ConsentDirective, PatientContext
from gateway.requester import Requester


def has_relationship(requester: Requester, patient: PatientContext) -> bool:
    """Legitimate relationship: the caller's organisation (ODS) or team is in the care team."""
    for m in patient.care_team:
        if (m.org is not None and m.org == requester.org) or (requester.team and m.team == requester.team):
            return True
    return False


def _names_requester(d: ConsentDirective, requester: Requester) -> bool:
    return requester.org in d.recipient_orgs or (requester.team is not None and requester.team in d.recipient_orgs)


def objection(requester: Requester, patient: PatientContext, category: str, parent: str | None) -> bool:
    # A deny is protective: no categories = every category; naming the parent covers its field groups;
    # no recipients = everyone.
    for d in patient.directives:
        if d.type != "deny":
            continue
        if d.categories and category not in d.categories and (parent is None or parent not in d.categories):
            continue
        if d.recipient_orgs and not _names_requester(d, requester):
            continue
        return True
    return False


def consent_permits(requester: Requester, patient: PatientContext, category: str) -> bool:
    # A permit must be explicit: it names both the recipient and the category.
    return any(d.type == "permit" and category in d.categories and _names_requester(d, requester)
               for d in patient.directives)


def base_facts(requester: Requester, patient: PatientContext, item: Candidate, grants_relationship: bool) -> Facts:
    return Facts(
        relationship=grants_relationship or has_relationship(requester, patient),
        opt_out=patient.national_opt_out,
        justification=bool(requester.justification and requester.justification.strip()),
        recorded_by_requester=item.holder_org is not None and item.holder_org == requester.org,
        own_record=requester.patient is not None and requester.patient == patient.nhs_number,
    )
