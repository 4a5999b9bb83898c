"""The compiled policy engine: one immutable instance per policy version.

Three stages (HAPI FHIR consent service): :meth:`PolicyEngine.check_request` (may this request
proceed at all), :meth:`PolicyEngine.decide` (what happens to each item) and the field redaction
inside that decision. At construction every (role, purpose, category) gets its full decision table
over the facts and resource types its rules look at, so a request costs dictionary look-ups.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.policy import facts as _facts
from gateway.policy.categorize import Classification, codes_and_displays_in
from gateway.policy.compile import Compiled, Invariant, compile_policy
from gateway.policy.conditions import FACT_NAMES, Facts, all_facts
from gateway.policy.errors import PolicyError
from gateway.policy.loader import read_directory
from gateway.policy.model import (
    RESTRICTIVENESS,
    Candidate,
    Effect,
    ItemDecision,
    Notice,
    PatientContext,
    RequestDecision,
)
from gateway.policy.notices import make_notice
from gateway.policy.rules import Outcome, Rule, combine
from gateway.policy.schema import validate
from gateway.policy.vocabulary import ElementGroup, Vocabulary
from gateway.requester import Requester


@dataclass(frozen=True)
class _Cell:
    idx: tuple[int, ...]  # positions in Facts that this cell's rules look at
    rtypes: frozenset[str]
    table: dict[tuple[tuple[bool, ...], str], Outcome]


class PolicyEngine:
    def __init__(self, version: str, compiled: Compiled, directory: Path | None = None) -> None:
        self.version = version
        self.directory = directory
        self.vocabulary: Vocabulary = compiled.vocabulary
        self.rules: tuple[Rule, ...] = compiled.rules
        self.invariants: tuple[Invariant, ...] = compiled.invariants
        v = self.vocabulary
        self._index: dict[tuple[str, str, str], tuple[Rule, ...]] = {
            (role, purpose, cat): tuple(r for r in self.rules if r.when.scope_ok(role, purpose, cat))
            for role in v.roles for purpose in v.purposes for cat in v.categories
        }
        self._grants_relationship = frozenset(p.name for p in v.purposes.values() if p.grants_relationship)
        self._requests: dict[tuple[str, str, bool, bool], RequestDecision] = {}
        self._cells = {key: self._compile_cell(key, rules) for key, rules in self._index.items()}

    def _compile_cell(self, key: tuple[str, str, str], rules: tuple[Rule, ...]) -> _Cell:
        """The whole decision table of one (role, purpose, category): every combination of the facts
        and resource types its rules look at (the others cannot change the outcome)."""
        conds = [c for r in rules for c in (r.when, *r.unless)]
        names = frozenset().union(*(c.referenced_facts() for c in conds))
        idx = tuple(i for i, n in enumerate(FACT_NAMES) if n in names)
        rtypes = frozenset(t for c in conds for t in c.resource_types or ())
        table: dict[tuple[tuple[bool, ...], str], Outcome] = {}
        for facts in all_facts(names):
            for rt in ("", *sorted(rtypes)):
                table[(tuple(facts[i] for i in idx), rt)] = self._evaluate(*key, facts, rt)
        return _Cell(idx, rtypes, table)

    # -- loading --------------------------------------------------------------------------
    @classmethod
    def load(cls, directory: Path, *, check_invariants: bool = True) -> PolicyEngine:
        raw = read_directory(Path(directory))
        if raw.problems:
            raise PolicyError(raw.problems)
        problems = validate(raw)
        if problems:
            raise PolicyError(problems)
        compiled, problems = compile_policy(raw)
        if problems or compiled is None:
            raise PolicyError(problems)
        engine = cls(raw.version, compiled, Path(directory))
        if check_invariants:
            # Imported here: invariants.py reads the engine it checks (a cycle, allowed in tests/test_import_cycles.py).
            from gateway.policy.invariants import check_invariants as _check

            violations = _check(engine)
            if violations:
                raise PolicyError(violations)
        return engine

    # -- stage 0: labelling at ingest -------------------------------------------------------
    def categorize(self, resource: dict[str, Any], hints: dict[str, Any] | None = None) -> tuple[str, ...]:
        return self.vocabulary.categorizer.categorize(resource, hints)

    def classify(self, resource: dict[str, Any], hints: dict[str, Any] | None = None) -> Classification:
        """The categories and what they rest on (the IG report of unclassified codes reads this)."""
        return self.vocabulary.categorizer.classify(resource, hints)

    def label(self, resource: dict[str, Any], hints: dict[str, Any] | None = None) -> tuple[tuple[str, ...], str]:
        """The categories and the version they were made under (what the store keeps beside them)."""
        return self.categorize(resource, hints), self.labels_version

    @property
    def labels_version(self) -> str:
        """Stored labels made under this hash are this policy's; any other must be derived again."""
        return self.vocabulary.categories_version

    # -- vocabulary look-ups the gateway needs ------------------------------------------------
    def role_for_job_role(self, code: str) -> str | None:
        """The gateway role a national RBAC job-role code (e.g. R8000) maps to, per roles.yaml."""
        return self.vocabulary.role_for_job_role(code)

    def may_ingest(self, role: str) -> bool:
        """Whether a caller in this role may push source exports (roles.yaml `ingests`)."""
        r = self.vocabulary.roles.get(role)
        return bool(r and r.ingests)

    def purpose_code(self, purpose: str) -> str | None:
        """The HL7 PurposeOfUse "system|code" of a gateway purpose (for AuditEvent.purposeOfEvent)."""
        p = self.vocabulary.purposes.get(purpose)
        return p.code if p else None

    # -- stage 1: the request --------------------------------------------------------------
    def check_request(self, requester: Requester) -> RequestDecision:
        key = (requester.role, requester.purpose, bool(requester.justification and requester.justification.strip()),
               requester.patient is not None)
        found = self._requests.get(key)
        if found is None:
            found = self._requests[key] = self._check_request(*key)
        return found

    def _check_request(self, role: str, purpose: str, justified: bool, scoped: bool) -> RequestDecision:
        ids = (f"role:{role}", f"purpose:{purpose}")
        r = self.vocabulary.roles.get(role)
        p = self.vocabulary.purposes.get(purpose)

        def refuse(reason: str) -> RequestDecision:
            return RequestDecision(False, ids, 403, reason)

        if r is None:
            return refuse(f"unknown role {role!r}")
        if not r.reads_records:
            return refuse(f"role {role!r} may not read patient records through the FHIR API")
        if p is None:
            return refuse(f"unknown purpose of use {purpose!r}")
        if role not in p.roles:
            return refuse(f"role {role!r} may not state purpose {purpose!r}")
        if p.justification_required and not justified:
            return refuse(f"purpose {purpose!r} requires a written justification")
        if r.own_record_only and not scoped:
            return refuse(f"role {role!r} needs a token scoped to the patient's own NHS number")
        return RequestDecision(True, ids, 200, "", p.obligations)

    # -- stage 2 + 3: each item and its fields ---------------------------------------------
    def outcome(self, role: str, purpose: str, category: str, facts: Facts, resource_type: str = "") -> Outcome:
        """The decision table entry: look-ups only (tables are compiled when the engine is built)."""
        if purpose in self._grants_relationship and not facts.relationship:
            facts = facts._replace(relationship=True)  # break glass decides "as if" (purposes.yaml)
        cell = self._cells.get((role, purpose, category))
        if cell is None:  # a name the vocabulary does not know: no rule can match, the default decides
            return self._evaluate(role, purpose, category, facts, "")
        rt = resource_type if resource_type in cell.rtypes else ""
        return cell.table[(tuple([facts[i] for i in cell.idx]), rt)]

    def matching_rules(self, role: str, purpose: str, category: str, facts: Facts, resource_type: str) -> list[Rule]:
        return [r for r in self._index.get((role, purpose, category), ())
                if r.applies(role, purpose, category, facts, resource_type)]

    def _evaluate(self, role: str, purpose: str, category: str, facts: Facts, rt: str) -> Outcome:
        cat = self.vocabulary.categories.get(category)
        default = cat.default if cat is not None else "hide"  # an unknown label is never released
        p = self.vocabulary.purposes.get(purpose)
        extra = p.obligations if p is not None else frozenset()
        extra_ids = (f"purpose:{purpose}",) if extra else ()
        return combine(self.matching_rules(role, purpose, category, facts, rt), default, category, extra, extra_ids)

    def facts_for(self, requester: Requester, patient: PatientContext, item: Candidate, category: str,
                  base: Facts | None = None) -> Facts:
        if base is None:
            p = self.vocabulary.purposes.get(requester.purpose)
            base = _facts.base_facts(requester, patient, item, bool(p and p.grants_relationship))
        c = self.vocabulary.categories.get(category)
        return base._replace(objection=_facts.objection(requester, patient, category, c.part_of if c else None),
                             consent_permits=_facts.consent_permits(requester, patient, category))

    def decision_key(self, stored: Candidate) -> tuple[Any, ...]:
        """All that :meth:`decide` reads from an item: for one requester and one patient context,
        items with equal keys get equal decisions, so a request may decide each key once.

        decide() looks at the resource only for its type, for which field groups of its categories
        are present, and for which element groups are present with which overlays; the holder
        organisation/team feed the facts and the notice. The key is taken from the stored JSON text
        where that suffices (Selector.present_in), so most items of a request are never parsed."""
        cats = stored.categories or ((self.vocabulary.fallback_category,) if self.vocabulary.fallback_category else ())
        groups = self.vocabulary.field_groups
        present = tuple(any(s.present_in(stored) for s in g.fields) for c in cats for g in groups.get(c, ()))
        elements = tuple(self.element_categories(g, stored)
                         for g in self.vocabulary.element_groups(stored.resource_type))
        return stored.resource_type, cats, stored.holder_org, stored.holder_team, present, elements

    def element_categories(self, group: ElementGroup, stored: Candidate) -> tuple[str, ...]:
        """The categories of an element group present in the item (its kind and the overlays its own
        codes bring); empty when the item has none of its elements."""
        if not any(s.present_in(stored) for s in group.fields):
            return ()
        found = [codes_and_displays_in(s.selected(stored.content)) for s in group.fields]
        codes = frozenset().union(*(c for c, _ in found))
        displays = tuple(d for _, ds in found for d in ds)
        return (group.category, *self.vocabulary.categorizer.element_overlays(stored.resource_type, codes, displays))

    def decide(self, requester: Requester, patient: PatientContext, item: Candidate) -> ItemDecision:
        request = self.check_request(requester)
        if not request.allowed:
            return ItemDecision("hide", ("request-refused",) + request.rule_ids)
        p = self.vocabulary.purposes[requester.purpose]
        base = _facts.base_facts(requester, patient, item, p.grants_relationship)
        rtype = item.resource_type
        cats = item.categories or ((self.vocabulary.fallback_category,) if self.vocabulary.fallback_category else ())
        if not cats:
            return ItemDecision("hide", ("uncategorised",))
        role, purpose = requester.role, requester.purpose

        def decide_all(categories: tuple[str, ...]) -> list[tuple[str, Outcome]]:
            return [(c, self.outcome(role, purpose, c, self.facts_for(requester, patient, item, c, base), rtype))
                    for c in categories]

        decided = decide_all(cats)
        effect = _most_restrictive(decided)
        rule_ids = _unique(i for _, o in decided if o.effect == effect for i in o.rule_ids)
        obligations = frozenset().union(*(o.obligations for _, o in decided))
        if effect == "hide":
            return ItemDecision(effect, rule_ids, obligations=obligations)
        if effect == "notice":
            cat, o = next((c, o) for c, o in decided if o.effect == "notice")
            return ItemDecision(effect, rule_ids, notice=make_notice(cat, item, patient, o.messages),
                                obligations=obligations)
        # Released (possibly with rule-level redaction): now the field groups and element groups present.
        parts = _Removals(item, patient, list(rule_ids), obligations)
        for cat, o in decided:
            parts.rule_redaction(cat, o)
        self._remove_groups(parts, [c for c, _ in decided], decide_all)
        return parts.decision()

    def _remove_groups(self, parts: _Removals, categories: list[str],
                       decide_all: Callable[[tuple[str, ...]], list[tuple[str, Outcome]]]) -> None:
        item = parts.item
        for cat in categories:
            for group in self.vocabulary.field_groups.get(cat, ()):
                if group.name not in parts.groups and any(s.present_in(item) for s in group.fields):
                    parts.group(group.name, group.fields, decide_all((group.name,)))
        for element in self.vocabulary.element_groups(item.resource_type):
            if element_cats := self.element_categories(element, item):
                parts.group(element.name, element.fields, decide_all(element_cats))


class _Removals:
    """What one released item loses: rule-level redactions, then each field or element group not
    released (with a redaction notice), or removed without trace when it is hidden."""

    def __init__(self, item: Candidate, patient: PatientContext, rule_ids: list[str],
                 obligations: frozenset[str]) -> None:
        self.item, self.patient = item, patient
        self.rule_ids, self.obligations = rule_ids, obligations
        self.selectors: list[str] = []
        self.groups: list[str] = []
        self.notices: list[Notice] = []
        self.removed: list[str] = []

    def rule_redaction(self, category: str, o: Outcome) -> None:
        if o.effect != "redact":
            return
        self.selectors += [s.text for s in o.selectors]
        self.groups += list(o.redacts)
        if any(s.present_in(self.item) for s in o.selectors):  # a rule's own redaction says what went too
            self.notices.append(make_notice(o.redacts[0] if o.redacts else category, self.item, self.patient,
                                            o.messages, redacted=True))

    def group(self, name: str, fields: tuple[Any, ...], outcomes: list[tuple[str, Outcome]]) -> None:
        effect = _most_restrictive(outcomes)
        self.obligations |= frozenset().union(*(o.obligations for _, o in outcomes))
        if effect == "release":
            return
        self.rule_ids += [i for _, o in outcomes if o.effect == effect for i in o.rule_ids]
        if effect == "hide":  # hidden means hidden: gone without a label or a notice
            self.removed += [s.text for s in fields]
            return
        category, chosen = next((c, o) for c, o in outcomes if o.effect == effect)
        self.selectors += [s.text for s in (chosen.selectors if effect == "redact" and chosen.selectors else fields)]
        self.groups.append(name)
        self.notices.append(make_notice(category, self.item, self.patient, chosen.messages, redacted=True))

    def decision(self) -> ItemDecision:
        rule_ids, removed = _unique(self.rule_ids), _unique(self.removed)
        if self.selectors:
            return ItemDecision("redact", rule_ids, _unique(self.selectors), _unique(self.groups),
                                self.notices[0] if self.notices else None, self.obligations, tuple(self.notices),
                                removed)
        return ItemDecision("release", rule_ids, obligations=self.obligations, removed=removed)


def _most_restrictive(decided: list[tuple[str, Outcome]]) -> Effect:
    return max((o.effect for _, o in decided), key=RESTRICTIVENESS.__getitem__)


def _unique(values: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
