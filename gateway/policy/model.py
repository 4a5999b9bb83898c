"""The values that cross the policy engine's boundary (inputs and decisions).

Three stages, as in HAPI FHIR's consent service: may this request proceed at all
(:class:`RequestDecision`), what happens to each item (:class:`ItemDecision`), and which fields
go (``ItemDecision.redact``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol

import orjson

Effect = Literal["release", "redact", "notice", "hide"]
# Most restrictive first: the combining order of POLICY_DEFAULTS.md.
RESTRICTIVENESS: dict[str, int] = {"hide": 3, "notice": 2, "redact": 1, "release": 0}


@dataclass(frozen=True)
class CareTeamMember:
    """A member of the patient's care team, as any source recorded it."""

    role: str  # e.g. "registered-gp-practice", "allocated-social-worker", "caseload-holder"
    org: str | None  # ODS code
    team: str | None = None
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    source: str | None = None  # which source system said so
    recorded: str | None = None  # date it came from


@dataclass(frozen=True)
class ConsentDirective:
    """A patient's sharing preference (from a FHIR Consent resource)."""

    id: str
    type: Literal["deny", "permit"]
    categories: tuple[str, ...] = ()  # empty: every category
    recipient_orgs: tuple[str, ...] = ()  # empty: every recipient
    given_by: str | None = None  # "patient" / "attorney"


@dataclass(frozen=True)
class PatientContext:
    patient_id: str
    nhs_number: str | None = None
    directives: tuple[ConsentDirective, ...] = ()
    national_opt_out: bool = False
    care_team: tuple[CareTeamMember, ...] = ()


@dataclass(frozen=True)
class Item:
    """A resource as a candidate for release (a :class:`Candidate` built from a dict: the IG tools'
    and tests' form; the API hands the engine its stored resources, which parse only on demand)."""

    resource: dict[str, Any]
    categories: tuple[str, ...]  # labelled at ingest, e.g. ("clinical_summary", "mental_health")
    holder_org: str | None = None  # ODS code of the organisation whose record it is
    holder_team: str | None = None

    @property
    def resource_type(self) -> str:
        return str(self.resource.get("resourceType", ""))

    @property
    def content(self) -> dict[str, Any]:
        return self.resource

    @cached_property
    def raw(self) -> str:
        return orjson.dumps(self.resource).decode()


class Stored(Protocol):
    """A resource as the store hands it out: its type, its JSON text, and the text parsed on demand."""

    @property
    def resource_type(self) -> str: ...
    @property
    def raw(self) -> str: ...
    @property
    def content(self) -> dict[str, Any]: ...


class Candidate(Stored, Protocol):
    """A stored resource with its labels, before it is parsed: what PolicyEngine.decision_key reads."""

    @property
    def categories(self) -> tuple[str, ...]: ...
    @property
    def holder_org(self) -> str | None: ...
    @property
    def holder_team(self) -> str | None: ...


@dataclass(frozen=True)
class Notice:
    """Something the caller does not get, and whom to ask: an item withheld, or fields removed from an
    item sent (``redacted``). The disclosure service aggregates these per (category, holder)."""

    category: str
    holder_org: str | None
    holder_name: str | None
    contact: str | None
    message: str  # human-readable line for one item (IG tests read it; responses aggregate)
    holder_team: str | None = None
    reasons: tuple[str, ...] = ()  # the deciding rules' messages ("the patient has recorded an objection")
    redacted: bool = False


@dataclass(frozen=True)
class ItemDecision:
    effect: Effect
    rule_ids: tuple[str, ...]
    redact: tuple[str, ...] = ()  # field selectors removed when effect == "redact"
    redacted_categories: tuple[str, ...] = ()  # e.g. ("risk_flag.detail",)
    notice: Notice | None = None  # the withheld item's notice; for a redaction, its first redaction notice
    obligations: frozenset[str] = frozenset()  # "review", "audit_level:high"
    redactions: tuple[Notice, ...] = ()  # one per field or element group removed with a notice
    removed: tuple[str, ...] = ()  # selectors removed without trace (an element group decided `hide`)


@dataclass(frozen=True)
class RequestDecision:
    allowed: bool
    rule_ids: tuple[str, ...]
    status: int = 200  # 403 when refused
    reason: str = ""
    obligations: frozenset[str] = field(default_factory=frozenset)
