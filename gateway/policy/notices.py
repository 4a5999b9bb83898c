"""Notice lines: "an item of category X is held by Y; contact Z" — whom to ask for what was withheld."""
from __future__ import annotations

from gateway.policy.model import Candidate, CareTeamMember, Notice, PatientContext


def holder(item: Candidate, patient: PatientContext) -> CareTeamMember | None:
    """The care-team member for the item's holding team (first) or organisation, preferring one
    with a contact point."""
    for wanted in (("team", item.holder_team), ("org", item.holder_org)):
        if wanted[1] is None:
            continue
        found = [m for m in patient.care_team if getattr(m, wanted[0]) == wanted[1]]
        if found:
            return max(found, key=lambda m: (m.phone is not None or m.email is not None, m.name is not None))
    return None


def make_notice(category: str, item: Candidate, patient: PatientContext, messages: tuple[str, ...],
                redacted: bool = False) -> Notice:
    member = holder(item, patient)
    where = ", ".join(x for x in (item.holder_team, item.holder_org) if x)
    if member is not None and member.name:
        name = f"{member.name} ({where})" if where else member.name
    else:
        name = where or "another organisation in the care team"
    contact = None
    if member is not None:
        contact = " / ".join(x for x in (member.phone, member.email) if x) or None
    text = (f"Fields of category {category} were removed from an item; they are held by {name}" if redacted
            else f"An item of category {category} is held by {name}")
    text += f"; contact {contact}." if contact else "."
    for m in messages:
        text += " " + m[:1].upper() + m[1:] + ("" if m.endswith(".") else ".")
    person = member.name if member is not None and member.name else None
    return Notice(category=category, holder_org=item.holder_org, holder_name=person, contact=contact, message=text,
                  holder_team=item.holder_team, reasons=messages, redacted=redacted)
