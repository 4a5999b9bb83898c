"""Build a :class:`PatientContext` from the stored resources about one patient.

Reads FHIR Consent (sharing preferences and the national-data-opt-out Consent, both per
``adapters.conventions``), CareTeam participants, RelatedPerson and Patient.generalPractitioner.

Sharing choices come from sources' exports and from the API (POST/PUT /fhir/Consent) alike, and
merge by one precedence rule (docs/policy.md, "Sharing choices: which one counts"): **the most
recent explicit choice wins**. Each choice is a Consent's provision with the Consent's ``dateTime``
(when the choice was made): an active Consent is a deny or a permit, an ``inactive`` one a
withdrawal. A choice stands for a (category, recipient) pair unless a strictly later choice covers
that pair (no category = every category, a category covers its field groups, no recipient =
everyone). A source that re-sends an older state therefore cannot undo a later choice; a choice
without a ``dateTime`` is older than any dated one. What stands then applies within its
``provision.period``, if it has one.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from adapters import conventions as cv
from adapters.base import NHS_NUMBER_SYSTEM, ODS_SYSTEM
from gateway.policy.model import CareTeamMember, ConsentDirective, PatientContext

_INACTIVE = {"inactive", "rejected", "entered-in-error", "proposed", "draft"}
_NOT_A_CHOICE = {"rejected", "entered-in-error", "proposed", "draft"}  # `inactive` is a withdrawal
_UNDATED = datetime.min.replace(tzinfo=UTC)


def moment(value: Any) -> datetime:
    """A Consent's dateTime as an aware UTC datetime (a date is its midnight UTC); unknown: the oldest."""
    text = str(value or "")
    if not text:
        return _UNDATED
    try:
        if len(text) == 4:
            return datetime(int(text), 1, 1, tzinfo=UTC)
        if len(text) == 7:
            return datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return _UNDATED
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True)
class _Choice:
    directive: ConsentDirective
    when: datetime
    withdrawn: bool  # an inactive Consent: takes back what it covers, adds nothing
    period: tuple[str | None, str | None]  # (start, end) dates of the provision, if any

    def covers(self, category: str | None, org: str | None) -> bool:
        d = self.directive
        cats_ok = not d.categories or (category is not None and (
            category in d.categories or any(category.startswith(c + ".") for c in d.categories)))
        return cats_ok and (not d.recipient_orgs or (org is not None and org in d.recipient_orgs))

    def in_force(self, today: str) -> bool:
        start, end = self.period
        return not (start and start[:10] > today) and not (end and end[:10] < today)


def _standing(choices: list[_Choice], today: str) -> list[ConsentDirective]:
    """The directives in force: each choice minus the (category, recipient) pairs a later choice covers."""
    out: list[ConsentDirective] = []
    for choice in choices:
        if choice.withdrawn or not choice.in_force(today):
            continue
        later = [c for c in choices if c.when > choice.when]
        d = choice.directive
        pairs = [(cat, org) for cat in (d.categories or (None,)) for org in (d.recipient_orgs or (None,))]
        kept = [(cat, org) for cat, org in pairs if not any(c.covers(cat, org) for c in later)]
        if len(kept) == len(pairs):
            out.append(d)
            continue
        for n, (cat, org) in enumerate(kept, 1):
            out.append(ConsentDirective(f"{d.id}/{n}", d.type, (cat,) if cat else (), (org,) if org else (),
                                        d.given_by))
    return out


def _codes(value: Any, system: str | None = None) -> list[str]:
    out = []
    for cc in value if isinstance(value, list) else [value]:
        if not isinstance(cc, dict):
            continue
        codings = cc.get("coding") if "coding" in cc else [cc]  # CodeableConcept or Coding
        for c in codings or []:
            if isinstance(c, dict) and c.get("code") and (system is None or c.get("system") == system):
                out.append(str(c["code"]))
    return out


def _identifier(ref: Any) -> str | None:
    if not isinstance(ref, dict):
        return None
    ident = ref.get("identifier")
    if isinstance(ident, dict) and ident.get("value"):
        return str(ident["value"])
    return None


def _ended(period: Any, today: str) -> bool:
    end = period.get("end") if isinstance(period, dict) else None
    return bool(end) and str(end)[:10] < today


def _consent_categories(provision: dict[str, Any]) -> tuple[str, ...]:
    cats = _codes(provision.get("securityLabel"), cv.DATA_CATEGORY) + _codes(provision.get("code"), cv.DATA_CATEGORY)
    cats += _codes(provision.get("class"), cv.DATA_CATEGORY)
    return tuple(dict.fromkeys(cats))


def _directives(consent: dict[str, Any], given_by: str) -> list[tuple[ConsentDirective, tuple[str | None, str | None]]]:
    """Each provision's directive, with the period it applies in (a nested provision's within its parent's)."""
    out: list[tuple[ConsentDirective, tuple[str | None, str | None]]] = []

    def walk(prov: dict[str, Any], n: int, outer: tuple[str | None, str | None]) -> None:
        given = prov.get("period")
        period: dict[str, Any] = given if isinstance(given, dict) else {}
        starts = [s for s in (outer[0], period.get("start")) if s]
        ends = [e for e in (outer[1], period.get("end")) if e]
        window = (max(starts) if starts else None, min(ends) if ends else None)
        if prov.get("type") in ("deny", "permit"):
            orgs = tuple(o for o in (_identifier(a.get("reference")) for a in prov.get("actor") or []) if o)
            out.append((ConsentDirective(f"{consent.get('id', '')}#{n}" if n else str(consent.get("id", "")),
                                         prov["type"], _consent_categories(prov), orgs, given_by), window))
        for i, sub in enumerate(prov.get("provision") or []):
            if isinstance(sub, dict):
                walk(sub, n * 10 + i + 1, window)

    if isinstance(consent.get("provision"), dict):
        walk(consent["provision"], 0, (None, None))
    return out


def _kind(ref: dict[str, Any]) -> str:
    return str(ref.get("type") or str(ref.get("reference", "")).split("/", 1)[0])


def _is_person(member: dict[str, Any]) -> bool:
    """Relatives, attorneys and the patient are in the care team, but are not an organisation's staff."""
    return _kind(member) in ("RelatedPerson", "Patient")


def _contact(ext: list[dict[str, Any]], telecom: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    listed = [e.get("valueContactPoint") for e in ext if e.get("url") == cv.EXT_PARTICIPANT_CONTACT]
    points: list[dict[str, Any]] = [p for p in listed + list(telecom) if isinstance(p, dict)]
    phone = next((p.get("value") for p in points if p.get("system") == "phone"), None)
    email = next((p.get("value") for p in points if p.get("system") == "email"), None)
    return phone, email


def patient_context(patient: dict[str, Any], resources: Iterable[dict[str, Any]], *,
                    national_opt_out: bool | None = None, today: date | None = None) -> PatientContext:
    """The patient's sharing choices, opt-out and care team as of ``today`` (default: the local date).

    A care-team participation whose period ended before ``today`` is no relationship any more; pass
    ``today`` to decide as of a given day (tests, replaying a decision) instead of the wall clock.
    """
    as_of = (today or date.today()).isoformat()
    nhs = next((i.get("value") for i in patient.get("identifier") or [] if i.get("system") == NHS_NUMBER_SYSTEM), None)
    choices: list[_Choice] = []
    opt_out: tuple[datetime, bool] | None = None  # (dateTime, opted out) of the latest opt-out Consent
    team = _registered_gp(patient)
    for r in resources:
        rtype = r.get("resourceType")
        if rtype == "Consent" and r.get("status", "active") not in _NOT_A_CHOICE:
            if _is_opt_out(r):
                opt_out = _later_opt_out(r, opt_out)
            else:
                choices += _choices(r)
        elif rtype == "CareTeam" and r.get("status", "active") not in _INACTIVE:
            team += _care_team_members(r, as_of)
        elif rtype == "RelatedPerson" and r.get("active", True):
            team.append(_related_person(r))
    opted = national_opt_out if national_opt_out is not None else bool(opt_out and opt_out[1])
    directives = _standing(choices, as_of)
    return PatientContext(str(patient.get("id", "")), nhs, tuple(directives), opted, tuple(team))


def _registered_gp(patient: dict[str, Any]) -> list[CareTeamMember]:
    team = []
    for gp in patient.get("generalPractitioner") or []:
        org = _identifier(gp)
        if org and (gp.get("identifier") or {}).get("system", ODS_SYSTEM) == ODS_SYSTEM:
            team.append(CareTeamMember("registered-gp-practice", org, None, gp.get("display"), source="Patient"))
    return team


def _is_opt_out(consent: dict[str, Any]) -> bool:
    policy = (_codes(consent.get("category"), cv.CONSENT_POLICY)
              + _codes((consent.get("policyRule") or {}), cv.CONSENT_POLICY))
    return "national-data-opt-out" in policy


def _later_opt_out(consent: dict[str, Any], latest: tuple[datetime, bool] | None) -> tuple[datetime, bool] | None:
    """The latest national opt-out choice so far; at the same moment, opted out wins (the protective reading)."""
    when = moment(consent.get("dateTime"))
    if consent.get("status", "active") == "inactive":
        return latest
    denied = (consent.get("provision") or {}).get("type", "deny") == "deny"
    return (when, denied) if latest is None or (when, denied) > latest else latest


def _choices(consent: dict[str, Any]) -> list[_Choice]:
    """A sharing choice's directives (given by an attorney when a RelatedPerson performed it)."""
    performers = [p for p in consent.get("performer") or [] if isinstance(p, dict)]
    given_by = "attorney" if any(_kind(p) == "RelatedPerson" for p in performers) else "patient"
    withdrawn = consent.get("status", "active") == "inactive"
    when = moment(consent.get("dateTime"))
    return [_Choice(d, when, withdrawn, window) for d, window in _directives(consent, given_by)]


def _care_team_members(team: dict[str, Any], as_of: str) -> list[CareTeamMember]:
    """The CareTeam's participants whose period has not ended by ``as_of``."""
    source = (team.get("meta") or {}).get("source")
    members = []
    for part in team.get("participant") or []:
        if _ended(part.get("period"), as_of):
            continue
        ext = [e for e in part.get("extension") or [] if isinstance(e, dict)]
        member = part.get("member") or {}
        org = _identifier(part.get("onBehalfOf")) or (
            _identifier(member) if (member.get("identifier") or {}).get("system") == ODS_SYSTEM else None)
        if org is None and not _is_person(member) and (team.get("managingOrganization") or []):
            org = _identifier(team["managingOrganization"][0])  # staff of the managing organisation
        teams = [str(e.get("valueString")) for e in ext if e.get("url") == cv.EXT_PARTICIPANT_TEAM]
        roles = _codes(part.get("role")) + [str(c.get("text")) for c in part.get("role") or []
                                            if isinstance(c, dict) and c.get("text")]
        phone, email = _contact(ext, [])
        members.append(CareTeamMember(roles[0] if roles else "member", org, teams[0] if teams else None,
                                      member.get("display"), phone, email, source,
                                      (part.get("period") or {}).get("start")))
    return members


def _related_person(person: dict[str, Any]) -> CareTeamMember:
    roles = _codes(person.get("relationship"))
    names = person.get("name") or [{}]
    name = names[0].get("text") or " ".join([*names[0].get("given", []), names[0].get("family", "")]).strip()
    phone, email = _contact([], [t for t in person.get("telecom") or [] if isinstance(t, dict)])
    return CareTeamMember(roles[0] if roles else "related-person", None, None, name or None, phone, email,
                          (person.get("meta") or {}).get("source"))
