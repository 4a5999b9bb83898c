"""ADT A04 / A08 / A03 and ROL: the district-nursing caseload as EpisodeOfCare + CareTeam.

A caseload is per team: the episode and its care team are keyed by (person, team), so A08
updates and A03 discharges land on what A04 created.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from adapters.base import MappedRecord
from adapters.community_hl7v2.context import Context
from adapters.community_hl7v2.fields import FieldError, Seg
from adapters.fhir_helpers import (
    care_team,
    compact,
    concept,
    contact_points,
    local_id_system,
    participant,
    period,
    ref,
)

CASELOAD_EVENTS = {"A04", "A08", "A03"}
_ROLES = {"CASELOAD": "caseload-holder", "DN": "district-nurse"}


def caseload(ctx: Context, event: str, pv1: Seg | None, evn: Seg | None,
             rols: list[Seg]) -> Iterator[MappedRecord]:
    team = (pv1.get(3, 9) if pv1 else "") or next((r.get(10) for r in rols if r.get(10)), "")
    event_time = evn.fhir_time(2) if evn else None
    discharged = event == "A03"
    start = (pv1.fhir_time(44) if pv1 else None) or (event_time if event == "A04" else None)
    end = (pv1.fhir_time(45) if pv1 else None) or (event_time if discharged else None)

    members = list(_rol_members(ctx, rols, team, end if discharged else None))
    holder: dict[str, Any] | None = next(
        (m["member"] for m in members if _role_code(m) == "caseload-holder"), None)
    if pv1 and (nurse := ctx.xcn(pv1, 7)) and nurse not in [m.get("member") for m in members]:
        role = "district-nurse" if holder else "caseload-holder"
        holder = holder or nurse
        members.append(participant(role, nurse, on_behalf_of=ctx.sender, team=team or None,
                                   start=start, end=end if discharged else None))
    if team:
        members.insert(0, participant("district-nursing-team", {"display": team},
                                      on_behalf_of=ctx.sender, team=team, start=start,
                                      end=end if discharged else None))
    team_key = ctx.key("CareTeam", "caseload", team or "-")
    team_id = ctx.id("CareTeam", team_key)
    resource = care_team(team_id, ctx.patient_id, f"District nursing caseload {team}".strip(),
                         members, ctx.source_system, status="inactive" if discharged else "active")
    yield ctx.record(resource, team_key, "ROL" if rols else "PV1")

    if event not in CASELOAD_EVENTS:
        return
    episode_key = ctx.key("EpisodeOfCare", "caseload", team or "-")
    referral = pv1.get(19) if pv1 else ""
    episode = compact({
        "resourceType": "EpisodeOfCare", "id": ctx.id("EpisodeOfCare", episode_key),
        "identifier": [{"system": local_id_system(ctx.source_system, "caseload-referral"),
                        "value": referral}] if referral else [],
        "status": "finished" if discharged or end else "active",
        "type": [concept(None, None, text="District nursing caseload")],
        "patient": ref("Patient", ctx.patient_id), "managingOrganization": ctx.sender,
        "period": period(start, end), "careManager": holder, "team": [ref("CareTeam", team_id)],
    })
    yield ctx.record(episode, episode_key, "PV1")


def _rol_members(ctx: Context, rols: list[Seg], team: str,
                 discharge: str | None) -> Iterator[dict[str, Any]]:
    for rol in rols:
        code = rol.get(3, 1).upper()
        role = _ROLES.get(code, rol.get(3, 2) or code or "care-team-member")
        if (person := ctx.xcn(rol, 4)) is None:
            raise FieldError(rol.where(4), "care-team role without a person")
        yield participant(role, person, on_behalf_of=ctx.sender,
                          team=rol.get(10) or team or None,
                          contacts=contact_points(phone=rol.get(12) or None),
                          start=rol.fhir_time(5), end=rol.fhir_time(6) or discharge)


def _role_code(member: dict[str, Any]) -> str | None:
    codings = member.get("role", [{}])[0].get("coding", [])
    return codings[0]["code"] if codings else None
