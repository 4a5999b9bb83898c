"""<Contacts>: Worker -> care-team participant; Relative / Attorney -> RelatedPerson (+ participants).

Participants are collected and written as one council CareTeam (see :func:`council_team`), together
with the care providers of the care package.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from adapters.base import Json, MappedRecord
from adapters.conventions import CARE_TEAM_ROLE, CARE_TEAM_ROLES
from adapters.fhir_helpers import (
    care_team,
    compact,
    concept,
    contact_points,
    local_id_system,
    org_ref,
    participant,
    person_ref,
    ref,
    relationship,
    split_name,
)
from adapters.social_care.model import Export, Item

LPA_ROLES = {"health-and-welfare": "lpa-health-and-welfare",
             "property-and-financial": "lpa-property-and-financial",
             "property-and-financial-affairs": "lpa-property-and-financial"}


@dataclass(frozen=True)
class Member:
    """A CareTeam participant contributed by an item; ``None`` when the item was retracted or has
    ended, so that the re-sent team drops it (and a team whose members all went is re-sent empty)."""

    participant: Json | None
    updated: datetime


def _true(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1", "yes", "y")


def worker(export: Export, item: Item) -> list[Member]:
    if item.retracted:
        return [Member(None, item.updated)]
    role = item.attr("role") or "allocated-social-worker"
    member = person_ref(local_id_system(export.council, "worker"), item.id, item.attr("name"))
    return [Member(participant(role, member, on_behalf_of=org_ref(export.council),
                               team=item.attr("team"),
                               contacts=contact_points(item.attr("phone"), item.attr("email"))),
                   item.updated)]


def _related_person(export: Export, item: Item, roles: list[str], rel: Json | None,
                    start: str | None = None) -> tuple[MappedRecord, list[Member]]:
    rp_id = export.id("RelatedPerson", item.id)
    phones = contact_points(item.attr("phone"), item.attr("email"), use="home")
    name = item.attr("name")
    resource = compact({
        "resourceType": "RelatedPerson", "id": rp_id, "active": not item.retracted,
        "patient": ref("Patient", export.patient_id),
        # care-team roles first: they say why this person is on the record (NOK, attorney...)
        "relationship": [*(concept(CARE_TEAM_ROLE, r, r.replace("-", " "))
                           for r in roles if r in CARE_TEAM_ROLES), rel],
        "name": [split_name(name)] if name else [], "telecom": phones,
        "period": {"start": start} if start else None,
    })
    members = [Member(None, item.updated)] if item.retracted else [
        Member(participant(r, ref("RelatedPerson", rp_id, name), contacts=phones, start=start),
               item.updated) for r in roles]
    return export.item_record(item, resource), members


def relative(export: Export, item: Item) -> list[MappedRecord | Member]:
    roles = [r for r, flag in (("next-of-kin", "nextOfKin"), ("key-holder", "keyHolder"))
             if _true(item.attr(flag))]
    record, members = _related_person(export, item, roles, relationship(item.attr("relationship")))
    return [record, *members]


def attorney(export: Export, item: Item) -> list[MappedRecord | Member]:
    kind = item.attr("type") or ""
    role = LPA_ROLES.get(kind, f"lasting power of attorney ({kind})" if kind else "lasting power of attorney")
    registered = item.date("registered")
    record, members = _related_person(export, item, [role], None, registered)
    return [record, *members]


def lpa_person_id(export: Export, attorneys: list[Item]) -> str | None:
    """The RelatedPerson who can consent on the person's behalf: only a health-and-welfare
    attorney can (a property-and-financial LPA covers money, not care information)."""
    live = [a for a in attorneys
            if not a.retracted and a.attr("id") and a.attr("type") == "health-and-welfare"]
    return export.id("RelatedPerson", live[0].id) if live else None


def council_team(export: Export, members: list[Member], location: str) -> MappedRecord | None:
    if not members:
        return None
    key = f"{export.person_id}/CareTeam"
    live = [m.participant for m in members if m.participant]
    resource = care_team(export.id("CareTeam", key), export.patient_id, "Adult social care",
                         live, export.council, status="active" if live else "inactive")
    updated = max(m.updated for m in members)
    return export.record(resource, key, updated, location, "Contacts")
