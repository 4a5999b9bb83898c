"""From validated documents to compiled vocabulary, rules and invariants, with reference checks.

Every name a rule, invariant or test uses must be declared in roles / purposes / categories;
every selector must parse. Problems are collected (not raised one by one) so that an IG editor
sees them all at once.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.policy.categorize import Categorizer, Matcher
from gateway.policy.conditions import Condition
from gateway.policy.errors import PolicyProblem
from gateway.policy.loader import Document, RawPolicy, path_text
from gateway.policy.rules import Rule
from gateway.policy.selectors import Selector, SelectorError, compile_selector
from gateway.policy.terminology import Expansion, ecls_in, normalise_ecl, read_expansion
from gateway.policy.vocabulary import CategoryDef, ElementGroup, PersonView, PurposeDef, RoleDef, Vocabulary


@dataclass(frozen=True)
class Invariant:
    id: str
    file: str
    index: int
    when: Condition
    unless: tuple[Condition, ...]
    expect: dict[str, Any]
    description: str = ""


@dataclass
class Compiled:
    vocabulary: Vocabulary
    rules: tuple[Rule, ...]
    invariants: tuple[Invariant, ...]


class _Problems:
    def __init__(self) -> None:
        self.items: list[PolicyProblem] = []

    def add(self, doc: Document, path: tuple[str | int, ...], problem: str) -> None:
        self.items.append(PolicyProblem(doc.file, path_text(path), problem, doc.line(path)))


def compile_policy(raw: RawPolicy) -> tuple[Compiled | None, list[PolicyProblem]]:
    p = _Problems()
    vocab = _vocabulary(raw, p)
    if vocab is None:
        return None, p.items
    rules = _rules(raw, vocab, p)
    invariants = _invariants(raw, vocab, p)
    _check_tests(raw, vocab, {r.id for r in rules}, p)
    return Compiled(vocab, tuple(rules), tuple(invariants)), p.items


def _vocabulary(raw: RawPolicy, p: _Problems) -> Vocabulary | None:
    roles_doc, purposes_doc, cats_doc = raw.one("roles"), raw.one("purposes"), raw.one("categories")
    if roles_doc is None or purposes_doc is None or cats_doc is None:
        return None
    roles = _roles(roles_doc, p)
    purposes = _purposes(purposes_doc, roles, p)
    data = cats_doc.data
    expansions = _expansions(raw, cats_doc, p)
    categories, matchers = _categories(cats_doc, {key: e.codes for key, e in expansions.items()}, p)
    fallback = data.get("fallback_category")
    if fallback is not None and fallback not in categories:
        p.add(cats_doc, ("fallback_category",), f"unknown category {fallback!r}")
    overlays = frozenset(c.name for c in categories.values() if c.overlay)
    if fallback in overlays:
        p.add(cats_doc, ("fallback_category",), f"the fallback {fallback!r} must be a kind, not an overlay")
    terms = _sensitive_terms(cats_doc, categories, p)
    used = {key: expansions[key] for key in (normalise_ecl(e) for e, _ in ecls_in(data)) if key in expansions}
    return Vocabulary(roles, purposes, categories, _field_groups(categories),
                      Categorizer(matchers, data.get("section_extension"), fallback, overlays, terms), fallback,
                      _elements(cats_doc, categories, p), _categories_version(data, used), expansions,
                      frozenset(normalise_ecl(e) for e, _ in ecls_in(data)),
                      _person_view(raw.one("settings"), purposes, p))


def _roles(doc: Document, p: _Problems) -> dict[str, RoleDef]:
    roles = {name: RoleDef(name, d.get("description", ""), tuple(d.get("job_roles", ())),
                           d.get("reads_records", True), d.get("ingests", False), d.get("own_record_only", False),
                           d.get("reads_audit", False), d.get("manages_policies", False),
                           d.get("records_consent", False), d.get("records_opt_out", False))
             for name, d in doc.data["roles"].items()}
    seen_codes: dict[str, str] = {}
    for name, role in roles.items():
        for i, code in enumerate(role.job_roles):
            if code in seen_codes:
                p.add(doc, ("roles", name, "job_roles", i), f"job role {code} is already mapped to {seen_codes[code]}")
            seen_codes[code] = name
    return roles


def _purposes(doc: Document, roles: dict[str, RoleDef], p: _Problems) -> dict[str, PurposeDef]:
    purposes: dict[str, PurposeDef] = {}
    for name, d in doc.data["purposes"].items():
        for i, r in enumerate(d["roles"]):
            if r not in roles:
                p.add(doc, ("purposes", name, "roles", i), f"unknown role {r!r}")
        purposes[name] = PurposeDef(name, d.get("description", ""), d["code"], frozenset(d["roles"]),
                                    d.get("justification_required", False), d.get("grants_relationship", False),
                                    frozenset(d.get("obligations", ())))
    return purposes


def _categories(doc: Document, resolved: dict[str, frozenset[str]], p: _Problems,
                ) -> tuple[dict[str, CategoryDef], list[tuple[str, Matcher]]]:
    categories: dict[str, CategoryDef] = {}
    matchers: list[tuple[str, Matcher]] = []
    for name, d in doc.data["categories"].items():
        categories[name] = _category(doc, name, d, p)
        matchers += [(name, Matcher.from_data(m, resolved)) for m in d.get("match", ())]
    return categories, matchers


def _category(doc: Document, name: str, d: dict[str, Any], p: _Problems) -> CategoryDef:
    """One category or field group, its parent (part_of) checked against the others."""
    every = doc.data["categories"]
    parent = d.get("part_of")
    if parent is not None and parent not in every:
        p.add(doc, ("categories", name, "part_of"), f"unknown parent category {parent!r}")
    elif parent is not None and every[parent].get("part_of"):
        p.add(doc, ("categories", name, "part_of"), f"{parent!r} is itself a field group")
    if parent is not None and "." in name and not name.startswith(parent + "."):
        p.add(doc, ("categories", name), f"a field group of {parent!r} should be named {parent}.<group>")
    selectors = _selectors(doc, ("categories", name, "fields"), d.get("fields", ()), p)
    if d.get("fields") and parent is None:
        p.add(doc, ("categories", name, "fields"), "fields are only for field groups (set part_of)")
    if not d.get("match") and parent is None:
        p.add(doc, ("categories", name), "a top-level category needs at least one matcher")
    parent_default = every.get(parent, {}).get("default") if parent else None
    if d.get("overlay") and parent is not None:
        p.add(doc, ("categories", name, "overlay"), "a field group cannot be an overlay")
    return CategoryDef(name, d.get("description", ""), d.get("default", parent_default or "notice"),
                       parent, tuple(selectors), bool(d.get("overlay")))


def _selectors(doc: Document, base: tuple[str | int, ...], texts: Any, p: _Problems) -> list[Selector]:
    """The selectors that parse; each one that does not is a problem at its index."""
    selectors = []
    for i, text in enumerate(texts):
        try:
            selectors.append(compile_selector(text))
        except SelectorError as exc:
            p.add(doc, base + (i,), str(exc))
    return selectors


def _field_groups(categories: dict[str, CategoryDef]) -> dict[str, tuple[CategoryDef, ...]]:
    groups: dict[str, tuple[CategoryDef, ...]] = {}
    for c in categories.values():
        if c.part_of:
            groups[c.part_of] = groups.get(c.part_of, ()) + (c,)
    return groups


def _person_view(doc: Document | None, purposes: dict[str, PurposeDef], p: _Problems) -> PersonView:
    """settings.yaml `person_view` (optional file): what a person sees of who looked at their record."""
    if doc is None or not isinstance(doc.data, dict):
        return PersonView()
    data = doc.data.get("person_view") or {}
    omit = data.get("omit_purposes") or []
    for i, name in enumerate(omit):
        if name not in purposes:
            p.add(doc, ("person_view", "omit_purposes", i), f"unknown purpose {name!r}")
        elif purposes[name].grants_relationship:
            p.add(doc, ("person_view", "omit_purposes", i),
                  f"{name!r} grants relationship (break glass): the person is always told of it")
    return PersonView(data.get("staff_names", "name_and_organisation"), frozenset(omit))


def _categories_version(data: dict[str, Any], expansions: dict[str, Expansion] | None = None) -> str:
    """What labelling depends on (categories.yaml's content, not its comments, and the cached
    expansions its ECL expressions use), as a short hash: a new expansion relabels stored records."""
    content: Any = data
    if expansions:
        content = {"categories": data, "expansions": {k: sorted(e.codes) for k, e in sorted(expansions.items())}}
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _expansions(raw: RawPolicy, cats_doc: Document, p: _Problems) -> dict[str, Expansion]:
    """The cached expansions (valuesets/*.json) by normalised ECL; every ECL a matcher names must
    have one, or the policy cannot go live (a hierarchy matched against nothing under-protects)."""
    found: dict[str, Expansion] = {}
    for doc in raw.documents.get("valuesets", []):
        expansion = read_expansion(doc.file, doc.data) if isinstance(doc.data, dict) else None
        if expansion is None:
            p.add(doc, (), "no ECL: give it as compose.include.filter (property constraint, op =) or as the url "
                           "http://snomed.info/sct?fhir_vs=ecl/<ECL>")
            continue
        if expansion.key in found:
            p.add(doc, (), f"a second expansion of {expansion.ecl!r} (also in {found[expansion.key].file})")
            continue
        found[expansion.key] = expansion
    for ecl, path in ecls_in(cats_doc.data):
        if normalise_ecl(ecl) not in found:
            p.add(cats_doc, path, f"no cached expansion of the ECL {ecl!r} in valuesets/: "
                                  "run `gateway policy expand` (needs a FHIR terminology server)")
    return found


def _sensitive_terms(doc: Document, categories: dict[str, CategoryDef], p: _Problems) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for overlay, words in (doc.data.get("sensitive_terms") or {}).items():
        target = categories.get(overlay)
        if target is None:
            p.add(doc, ("sensitive_terms", overlay), f"unknown category {overlay!r}")
        elif not target.overlay:
            p.add(doc, ("sensitive_terms", overlay), f"{overlay!r} is not an overlay (the safety net only adds "
                                                       "sensitivities, never changes an item's kind)")
        else:
            out[overlay] = tuple(str(w) for w in words or ())
    return out


def _elements(doc: Document, categories: dict[str, CategoryDef], p: _Problems) -> dict[str, tuple[ElementGroup, ...]]:
    by_type: dict[str, tuple[ElementGroup, ...]] = {}
    for name, d in (doc.data.get("elements") or {}).items():
        base = ("elements", name)
        target = categories.get(d["category"])
        if target is None:
            p.add(doc, base + ("category",), f"unknown category {d['category']!r}")
            continue
        if target.part_of is not None or target.overlay:
            p.add(doc, base + ("category",), f"{d['category']!r} is not a kind (an element carries a kind's content)")
        selectors = _selectors(doc, base + ("fields",), d["fields"], p)
        group = ElementGroup(name, d.get("description", ""), d["category"], tuple(selectors))
        for rtype in dict.fromkeys(s.resource_type for s in selectors):
            by_type[rtype] = by_type.get(rtype, ()) + (group,)
    return by_type


def _check_names(doc: Document, path: tuple[str | int, ...], cond: dict[str, Any], vocab: Vocabulary,
                 p: _Problems) -> None:
    for key, known in (("roles", vocab.roles), ("purposes", vocab.purposes), ("categories", vocab.categories)):
        for i, name in enumerate(cond.get(key) or ()):
            if name not in known:
                p.add(doc, path + (key, i), f"unknown {key[:-1] if key != 'categories' else 'category'} {name!r}")


def _conditions(doc: Document, base: tuple[str | int, ...], d: dict[str, Any], vocab: Vocabulary,
                p: _Problems) -> tuple[Condition, tuple[Condition, ...]]:
    _check_names(doc, base + ("when",), d.get("when") or {}, vocab, p)
    for j, u in enumerate(d.get("unless") or ()):
        _check_names(doc, base + ("unless", j), u, vocab, p)
    return Condition.from_data(d.get("when")), tuple(Condition.from_data(u) for u in d.get("unless") or ())


def _rules(raw: RawPolicy, vocab: Vocabulary, p: _Problems) -> list[Rule]:
    rules: list[Rule] = []
    ids: dict[str, str] = {}
    for doc in raw.documents.get("rules", []):
        for i, d in enumerate((doc.data or {}).get("rules", [])):
            base = ("rules", i)
            if d["id"] in ids:
                p.add(doc, base + ("id",), f"duplicate rule id {d['id']!r} (also in {ids[d['id']]})")
            ids[d["id"]] = doc.file
            when, unless = _conditions(doc, base, d, vocab, p)
            selectors: list[Selector] = []
            groups: list[str] = []
            for j, text in enumerate(d.get("fields", ())):
                if text in vocab.categories:
                    if not vocab.categories[text].fields:
                        p.add(doc, base + ("fields", j), f"category {text!r} has no fields to redact")
                    selectors += vocab.categories[text].fields
                    groups.append(text)
                    continue
                try:
                    selectors.append(compile_selector(text))
                except SelectorError as exc:
                    p.add(doc, base + ("fields", j), str(exc))
            rules.append(Rule(d["id"], doc.file, i, d["effect"], when, unless, tuple(selectors), tuple(groups),
                              frozenset(d.get("obligations", ())), d.get("message"), d.get("description", "")))
    return rules


def _invariants(raw: RawPolicy, vocab: Vocabulary, p: _Problems) -> list[Invariant]:
    doc = raw.one("invariants")
    out: list[Invariant] = []
    if doc is None:
        return out
    for i, d in enumerate((doc.data or {}).get("invariants", [])):
        when, unless = _conditions(doc, ("invariants", i), d, vocab, p)
        out.append(Invariant(d["id"], doc.file, i, when, unless, d["expect"], d.get("description", "")))
    return out


def _check_tests(raw: RawPolicy, vocab: Vocabulary, rule_ids: set[str], p: _Problems) -> None:
    for doc in raw.documents.get("tests", []):
        data = doc.data or {}
        for i, case in enumerate(data.get("cases", [])):
            _check_case(doc, ("cases", i), case, vocab, rule_ids, p)
        for i, m in enumerate(data.get("matrices", [])):
            _check_matrix(doc, ("matrices", i), m, vocab, p)


def _check_case(doc: Document, base: tuple[str | int, ...], case: dict[str, Any], vocab: Vocabulary,
                rule_ids: set[str], p: _Problems) -> None:
    req = case.get("requester", {})
    if req.get("role") not in vocab.roles:
        p.add(doc, base + ("requester", "role"), f"unknown role {req.get('role')!r}")
    if req.get("purpose") not in vocab.purposes:
        p.add(doc, base + ("requester", "purpose"), f"unknown purpose {req.get('purpose')!r}")
    for j, c in enumerate((case.get("item") or {}).get("categories", ())):
        if c not in vocab.categories:
            p.add(doc, base + ("item", "categories", j), f"unknown category {c!r}")
    for j, r in enumerate(case.get("expect", {}).get("rules_include", ())):
        if r not in rule_ids and not r.startswith(("default:", "role:", "purpose:")):
            p.add(doc, base + ("expect", "rules_include", j), f"unknown rule id {r!r}")


def _check_matrix(doc: Document, base: tuple[str | int, ...], m: dict[str, Any], vocab: Vocabulary,
                  p: _Problems) -> None:
    if m.get("purpose") not in vocab.purposes:
        p.add(doc, base + ("purpose",), f"unknown purpose {m.get('purpose')!r}")
    for j, r in enumerate(m.get("roles", ())):
        if r not in vocab.roles:
            p.add(doc, base + ("roles", j), f"unknown role {r!r}")
    for cat, cells in (m.get("rows") or {}).items():
        if cat not in vocab.categories:
            p.add(doc, base + ("rows", cat), f"unknown category {cat!r}")
        if len(cells) != len(m.get("roles", ())):
            p.add(doc, base + ("rows", cat), f"{len(cells)} cells for {len(m.get('roles', ()))} roles")
