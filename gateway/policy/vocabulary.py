"""The compiled vocabulary of a policy pack: roles, purposes, categories (with field groups)."""
from __future__ import annotations

from dataclasses import dataclass, field

from gateway.policy.categorize import Categorizer
from gateway.policy.model import Effect
from gateway.policy.selectors import ANY_TYPE, Selector
from gateway.policy.terminology import Expansion


@dataclass(frozen=True)
class RoleDef:
    name: str
    description: str
    job_roles: tuple[str, ...] = ()
    reads_records: bool = True
    ingests: bool = False
    own_record_only: bool = False
    reads_audit: bool = False  # capabilities of the non-FHIR surfaces (audit API, policy tools)
    manages_policies: bool = False
    records_consent: bool = False  # may record a person's sharing choices (POST/PUT /fhir/Consent)
    records_opt_out: bool = False  # may record a person's national data opt-out


@dataclass(frozen=True)
class PurposeDef:
    name: str
    description: str
    code: str  # system|code
    roles: frozenset[str]
    justification_required: bool = False
    grants_relationship: bool = False
    obligations: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CategoryDef:
    name: str
    description: str
    default: Effect  # "notice" / "hide"
    part_of: str | None = None  # set for a field group
    fields: tuple[Selector, ...] = ()
    overlay: bool = False  # sensitivity on top of an item's kind (docs/policy.md: kinds and overlays)

    @property
    def top(self) -> str:
        return self.part_of or self.name


@dataclass(frozen=True)
class ElementGroup:
    """Elements of a resource that hold another category's content (a care-package provider in a
    CareTeam, an encounter's reason): decided as ``category`` plus the overlays their own codes bring."""

    name: str
    description: str
    category: str
    fields: tuple[Selector, ...]


STAFF_NAME_CHOICES = ("name_and_organisation", "organisation")


@dataclass(frozen=True)
class PersonView:
    """IG settings of what a person sees of their own access history (settings.yaml ``person_view``)."""

    staff_names: str = "name_and_organisation"  # or "organisation": role and organisation, no name
    omit_purposes: frozenset[str] = frozenset()  # accesses under these purposes are left out of it


@dataclass(frozen=True)
class Vocabulary:
    roles: dict[str, RoleDef]
    purposes: dict[str, PurposeDef]
    categories: dict[str, CategoryDef]
    field_groups: dict[str, tuple[CategoryDef, ...]]  # parent -> its field groups
    categorizer: Categorizer
    fallback_category: str | None
    elements: dict[str, tuple[ElementGroup, ...]] = field(default_factory=dict)  # resource type -> its groups
    categories_version: str = ""  # hash of the category definitions: stored labels made under another are stale
    expansions: dict[str, Expansion] = field(default_factory=dict)  # normalised ECL -> cached expansion
    ecl_in_use: frozenset[str] = frozenset()  # the normalised ECL the matchers name
    person_view: PersonView = field(default_factory=PersonView)

    def element_groups(self, resource_type: str) -> tuple[ElementGroup, ...]:
        return self.elements.get(resource_type, ()) + self.elements.get(ANY_TYPE, ())

    def role_for_job_role(self, code: str) -> str | None:
        return next((r.name for r in self.roles.values() if code in r.job_roles), None)
