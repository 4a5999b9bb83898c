"""Recording a person's sharing choices through the API: objections and the national data opt-out.

``POST /fhir/Consent`` and ``PUT /fhir/Consent/{id}`` (gateway/api/person_routes.py) hand the body
here. A choice is checked against the live policy pack's vocabulary (every category named must be
one of its categories; every recipient an organisation the gateway knows), normalised into the
Consent shape the adapters write (``adapters.conventions``), validated as R4 once, and stored
through the store's one write path (``ResourceStore.upsert``: a new version, index rows) together
with a Provenance naming who recorded it — in one transaction. The disclosure service builds
patient contexts from the store on every request (gateway/disclosure/enforce.ContextCache), so the
choice is in force on the very next request, on every gateway process.

Who may record what is the pack's (``roles.yaml``): ``records_consent`` for sharing choices,
``records_opt_out`` for the national data opt-out; a role with ``own_record_only`` only for the
NHS number its token is scoped to. How API choices and sources' choices merge: gateway/policy/context.py.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from adapters.base import NHS_NUMBER_SYSTEM, ODS_SYSTEM
from adapters.conventions import CONSENT_POLICY, DATA_CATEGORY
from adapters.fhir_helpers import consent, nhs_identifier, opt_out_provision, org_ref
from gateway.ingest.validate import problem
from gateway.policy.context import patient_context
from gateway.policy.engine import PolicyEngine
from gateway.requester import Requester
from gateway.store import ResourceStore, StoredResource
from gateway.store.resources import R

API_SOURCE = "care-gateway-api"  # the source_system of everything recorded through the API
SHARING, OPT_OUT = "sharing-preference", "national-data-opt-out"
CAPABILITY = {SHARING: "records_consent", OPT_OUT: "records_opt_out"}
STATUSES = {SHARING: ("active", "inactive"), OPT_OUT: ("active",)}
PROVISION_TYPES = {SHARING: ("deny",), OPT_OUT: ("deny", "permit")}
_CONTEXT_TYPES = ("Patient", "Consent", "CareTeam", "RelatedPerson")


class Invalid(Exception):
    """The choice cannot be recorded as sent: ``field`` names the element (FHIRPath), for a 422."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotAllowed(Exception):
    """The caller may not record this choice for this person (403, audited)."""


class NotRecordedHere(Exception):
    """PUT to a Consent a source recorded, or to one that does not exist (409 / 404)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Recorded:
    consent: dict[str, Any]  # as stored (meta.versionId, meta.lastUpdated)
    patient_id: str
    nhs_number: str | None
    version_id: int
    created: bool
    provenance_id: str
    categories: tuple[str, ...]
    kind: str  # sharing-preference | national-data-opt-out


def may_record_any(engine: PolicyEngine, requester: Requester) -> bool:
    """Whether the caller's role may record any kind of choice (checked before the body is read)."""
    role = engine.vocabulary.roles.get(requester.role)
    return bool(role and (role.records_consent or role.records_opt_out))


def describe(resource: dict[str, Any]) -> dict[str, Any]:
    """A recorded choice in a few words, for an audit record or the person's own page: its kind,
    status, provision type, the categories and recipient organisations it names, and its period."""
    codes = _codes(resource.get("policyRule"), CONSENT_POLICY) + _codes(resource.get("category"), CONSENT_POLICY)
    provision = resource.get("provision") or {}
    return {"kind": OPT_OUT if OPT_OUT in codes else SHARING, "status": resource.get("status"),
            "type": provision.get("type"), "recorded": resource.get("dateTime"),
            "categories": [c.get("code") for c in provision.get("securityLabel") or [] if isinstance(c, dict)],
            "recipients": [((a.get("reference") or {}).get("identifier") or {}).get("value")
                           for a in provision.get("actor") or [] if isinstance(a, dict)],
            "period": provision.get("period")}


def _codes(value: Any, system: str) -> list[str]:
    out = []
    for cc in value if isinstance(value, list) else [value]:
        if isinstance(cc, dict):
            for c in (cc.get("coding") or []) if "coding" in cc else [cc]:
                if isinstance(c, dict) and c.get("system") == system and c.get("code"):
                    out.append(str(c["code"]))
    return out


def _kind(body: dict[str, Any]) -> str:
    codes = _codes(body.get("policyRule"), CONSENT_POLICY) + _codes(body.get("category"), CONSENT_POLICY)
    known = [c for c in codes if c in CAPABILITY]
    unknown = [c for c in codes if c not in CAPABILITY]
    if unknown:
        raise Invalid("Consent.policyRule", f"unknown consent policy {unknown[0]!r}; known: {', '.join(CAPABILITY)}")
    if len(set(known)) > 1:
        raise Invalid("Consent.policyRule", "a Consent records one kind of choice")
    return known[0] if known else SHARING


def _patient(store: ResourceStore, body: dict[str, Any]) -> StoredResource | None:
    ref = body.get("patient")
    if not isinstance(ref, dict):
        raise Invalid("Consent.patient", "the person is required: a reference Patient/<id> or an NHS number identifier")
    text = ref.get("reference")
    if isinstance(text, str) and text:
        rtype, _, rid = text.rpartition("/")
        if rtype.rsplit("/", 1)[-1] != "Patient" or not rid:
            raise Invalid("Consent.patient.reference", f"{text!r} is not a Patient reference")
        found = store.get("Patient", rid)
        return found if found is not None and not found.deleted else None
    ident = ref.get("identifier")
    if isinstance(ident, dict) and ident.get("system") == NHS_NUMBER_SYSTEM and ident.get("value"):
        matches = store.find_by_identifier("Patient", NHS_NUMBER_SYSTEM, str(ident["value"]))
        return matches[0] if len(matches) == 1 else None
    raise Invalid("Consent.patient", "a reference Patient/<id> or an identifier with the NHS number system is required")


def _nhs(patient: StoredResource) -> str | None:
    return next((str(i.get("value")) for i in patient.content.get("identifier") or []
                 if isinstance(i, dict) and i.get("system") == NHS_NUMBER_SYSTEM), None)


def _date(value: Any, field: str) -> str | None:
    if value is None:
        return None
    text = str(value)
    try:
        if len(text) in (4, 7) and text[:4].isdigit():
            date.fromisoformat(f"{text}-01-01"[:10] if len(text) == 4 else f"{text}-01")
        elif len(text) == 10:
            date.fromisoformat(text)
        else:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(field, f"{text!r} is not a FHIR date or dateTime") from None
    return text


class KnownOrganisations:
    """An organisation is known when the store holds an Organization with its ODS code, when it holds
    any of the person's record, or when it is in the person's care team."""

    def __init__(self, store: ResourceStore, patient_id: str, care_team_orgs: set[str]) -> None:
        self.store, self.patient_id, self.care_team_orgs = store, patient_id, care_team_orgs
        self._holders: set[str] | None = None

    def __contains__(self, code: str) -> bool:
        if code in self.care_team_orgs:
            return True
        if self._holders is None:
            with self.store.engine.connect() as conn:
                self._holders = {r[0] for r in conn.execute(
                    sa.select(R.c.holder_org).where(R.c.patient_id == self.patient_id).distinct()) if r[0]}
        return code in self._holders or bool(self.store.find_by_identifier("Organization", ODS_SYSTEM, code))


def _provision(engine: PolicyEngine, kind: str, body: dict[str, Any], known: KnownOrganisations) -> dict[str, Any]:
    prov = body.get("provision")
    if not isinstance(prov, dict):
        raise Invalid("Consent.provision", "a provision is required (type deny, optional securityLabel, actor, period)")
    if prov.get("provision"):
        raise Invalid("Consent.provision.provision", "nested provisions are not recorded through the API: "
                                                     "one choice per Consent")
    ptype = prov.get("type")
    if ptype not in PROVISION_TYPES[kind]:
        raise Invalid("Consent.provision.type", f"must be {' or '.join(PROVISION_TYPES[kind])} for {kind}")
    window = _period(prov.get("period"))
    if kind == OPT_OUT:
        for name in ("securityLabel", "class", "code", "actor"):
            if prov.get(name):
                raise Invalid(f"Consent.provision.{name}", "the national data opt-out covers planning and research "
                                                           "as a whole: no categories or recipients")
        out = opt_out_provision(ptype == "deny")
    else:
        out = {"type": ptype}
        orgs = _recipients(prov, known)
        if orgs:
            out["actor"] = [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                                  "code": "IRCP", "display": "information recipient"}]},
                             "reference": org_ref(code)} for code in orgs]
        categories = _categories(engine, prov)
        if categories:
            out["securityLabel"] = [{"system": DATA_CATEGORY, "code": c} for c in categories]
    return {**out, "period": window} if window else out


def _period(period: Any) -> dict[str, str] | None:
    if period is None:
        return None
    if not isinstance(period, dict):
        raise Invalid("Consent.provision.period", "must be a Period (start, end)")
    start = _date(period.get("start"), "Consent.provision.period.start")
    end = _date(period.get("end"), "Consent.provision.period.end")
    if start and end and start[:10] > end[:10]:
        raise Invalid("Consent.provision.period", f"ends ({end}) before it starts ({start})")
    return {k: v for k, v in (("start", start), ("end", end)) if v} or None


def _categories(engine: PolicyEngine, prov: dict[str, Any]) -> list[str]:
    """The categories named (none: every category), each one of the live pack's."""
    categories: list[str] = []
    vocabulary = engine.vocabulary.categories
    for name in ("securityLabel", "class", "code"):
        for i, coding in enumerate(_flat(prov.get(name))):
            field = f"Consent.provision.{name}[{i}]"
            if coding.get("system") != DATA_CATEGORY:
                raise Invalid(field, f"a category is a coding in {DATA_CATEGORY}")
            code = str(coding.get("code") or "")
            if code not in vocabulary:
                raise Invalid(field, f"unknown category {code!r}; the policy pack's categories are: "
                                     f"{', '.join(sorted(vocabulary))}")
            categories.append(code)
    return list(dict.fromkeys(categories))


def _recipients(prov: dict[str, Any], known: KnownOrganisations) -> list[str]:
    """The recipient organisations named (none: everyone), each one the gateway knows."""
    orgs: list[str] = []
    for i, actor in enumerate(prov.get("actor") or []):
        field = f"Consent.provision.actor[{i}].reference"
        ref = actor.get("reference") if isinstance(actor, dict) else None
        ident = ref.get("identifier") if isinstance(ref, dict) else None
        if not isinstance(ident, dict) or ident.get("system") != ODS_SYSTEM or not ident.get("value"):
            raise Invalid(field, "a recipient is an organisation named by its ODS code "
                                 f"(identifier system {ODS_SYSTEM})")
        code = str(ident["value"])
        if code not in known:
            raise Invalid(field, f"unknown organisation {code!r}")
        orgs.append(code)
    return list(dict.fromkeys(orgs))


def _flat(value: Any) -> list[dict[str, Any]]:
    """Codings of a list of Coding or CodeableConcept."""
    out: list[dict[str, Any]] = []
    for item in value if isinstance(value, list) else ([value] if value else []):
        if isinstance(item, dict) and "coding" in item:
            out += [c for c in item.get("coding") or [] if isinstance(c, dict)]
        elif isinstance(item, dict):
            out.append(item)
        else:
            out.append({})
    return out


def _existing(store: ResourceStore, body: dict[str, Any], rid: str | None) -> StoredResource | None:
    if rid is None:
        return None
    if body.get("id") not in (None, rid):
        raise Invalid("Consent.id", f"the body's id {body.get('id')!r} is not the id in the URL ({rid!r})")
    existing = store.get("Consent", rid)
    if existing is None or existing.deleted:
        raise NotRecordedHere(f"Consent/{rid} is not known: record a new choice with POST /fhir/Consent", 404)
    return existing


def _person(store: ResourceStore, body: dict[str, Any], requester: Requester, own_only: bool) -> StoredResource:
    """The person the choice is about; a role limited to its own record learns nothing about anyone else."""
    refused = NotAllowed(f"role {requester.role!r} may record choices about its own record only")
    try:
        patient = _patient(store, body)
    except Invalid:
        if own_only:
            raise refused from None
        raise
    if own_only and (patient is None or requester.patient is None or _nhs(patient) != requester.patient):
        raise refused
    if patient is None:
        raise Invalid("Consent.patient", "no such person is known here")
    return patient


def _check_update(store: ResourceStore, existing: StoredResource, patient: StoredResource, kind: str,
                  own_only: bool) -> None:
    rid = existing.id
    if existing.patient_id != patient.id:
        if own_only:
            raise NotAllowed("a person may change only their own choices")
        raise Invalid("Consent.patient", f"Consent/{rid} is about another person")
    with store.engine.connect() as conn:
        source = conn.execute(sa.select(R.c.source_system).where(
            R.c.resource_type == "Consent", R.c.id == rid)).scalar()
    if source != API_SOURCE:
        raise NotRecordedHere(f"Consent/{rid} was recorded by source system {source!r} and is kept as it sent "
                              "it: record the person's new choice with POST /fhir/Consent (the most recent "
                              "explicit choice wins)", 409)
    if _kind(existing.content) != kind:
        raise Invalid("Consent.policyRule", f"Consent/{rid} records a {_kind(existing.content)} choice")


def _performer(store: ResourceStore, body: dict[str, Any], patient: StoredResource) -> dict[str, Any]:
    """Who gave the choice: the person, or their attorney (a RelatedPerson in their record)."""
    given = body.get("performer")
    performer: list[Any] = given if isinstance(given, list) else []
    attorney = next((p for p in performer if isinstance(p, dict)
                     and str(p.get("reference", "")).startswith("RelatedPerson/")), None)
    if attorney is None:
        return {"reference": f"Patient/{patient.id}"}
    related = store.get("RelatedPerson", str(attorney["reference"]).split("/", 1)[1])
    if related is None or related.patient_id != patient.id:
        raise Invalid("Consent.performer", f"{attorney['reference']} is not known in this person's record")
    return {"reference": str(attorney["reference"])}


def record_choice(store: ResourceStore, engine: PolicyEngine, requester: Requester, body: Any, *,
                  rid: str | None = None) -> Recorded:
    """Check, normalise and store one choice (``rid``: a PUT to that Consent); raise Invalid / NotAllowed /
    NotRecordedHere. The caller audits the outcome and answers."""
    if not isinstance(body, dict) or body.get("resourceType") != "Consent":
        raise Invalid("Consent.resourceType", "the body must be a FHIR Consent resource")
    existing = _existing(store, body, rid)
    kind = _kind(body)
    role = engine.vocabulary.roles.get(requester.role)
    if role is None or not getattr(role, CAPABILITY[kind]):
        raise NotAllowed(f"role {requester.role!r} lacks the {CAPABILITY[kind]!r} capability in roles.yaml")
    patient = _person(store, body, requester, role.own_record_only)
    if existing is not None:
        _check_update(store, existing, patient, kind, role.own_record_only)
    status = body.get("status", "active")
    if status not in STATUSES[kind]:
        raise Invalid("Consent.status", f"must be {' or '.join(STATUSES[kind])} for {kind}"
                      + (" (inactive: the objection is withdrawn)" if kind == SHARING else ""))
    compartment = store.compartment(patient.id, types=_CONTEXT_TYPES)
    context = patient_context(patient.content, [s.content for s in compartment if s.resource_type != "Patient"])
    known = KnownOrganisations(store, patient.id, {m.org for m in context.care_team if m.org})
    provision = _provision(engine, kind, body, known)
    performer = _performer(store, body, patient)
    now = datetime.now(UTC)
    consent_id = rid or str(uuid.uuid4())
    nhs = _nhs(patient)
    resource = consent(consent_id, patient={"reference": f"Patient/{patient.id}",
                                            **({"identifier": nhs_identifier(nhs)} if nhs else {})},
                       policy=kind, provision=provision, status=status, recorded=now.isoformat(),
                       performer=performer, organization=None if role.own_record_only else org_ref(requester.org))
    if (reason := problem(resource)) is not None:
        raise Invalid(reason.split(":", 1)[0], reason.split(":", 1)[-1].strip())
    holder = None if role.own_record_only else requester.org
    provenance_id = _store(store, engine, resource, patient.id, holder, requester, role.own_record_only, now,
                           created=existing is None)
    stored = store.get("Consent", consent_id)
    assert stored is not None
    return Recorded(stored.content, patient.id, nhs, stored.version_id, existing is None, provenance_id,
                    stored.categories, kind)


def _store(store: ResourceStore, engine: PolicyEngine, resource: dict[str, Any], patient_id: str, holder: str | None,
           requester: Requester, own: bool, now: datetime, *, created: bool) -> str:
    """The Consent and its Provenance through the store's write path, in one transaction."""
    categories, labels_version = engine.label(resource, {})
    provenance_id = str(uuid.uuid4())
    ref = f"Consent/{resource['id']}"
    with store.engine.begin() as conn:
        store.upsert(resource, patient_id=patient_id, categories=categories, holder_org=holder,
                     source_system=API_SOURCE, source_id=ref, source_updated=now,
                     labels_version=labels_version, connection=conn)
        # A plain reference, as ingest writes them (gateway/disclosure/derived.py follows those).
        provenance = _provenance(provenance_id, ref, requester, patient_id, own, now, created=created)
        p_categories, p_version = engine.label(provenance, {})
        store.upsert(provenance, patient_id=patient_id, categories=p_categories, holder_org=holder,
                     source_system=API_SOURCE, source_id=f"Provenance/{provenance_id}", source_updated=now,
                     labels_version=p_version, connection=conn)
    return provenance_id


def _provenance(pid: str, target: str, requester: Requester, patient_id: str, own: bool, now: datetime, *,
                created: bool) -> dict[str, Any]:
    """Who recorded the choice, when, through which interface."""
    who: dict[str, Any] = ({"reference": f"Patient/{patient_id}", "display": requester.name} if own else
                           {"identifier": {"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": requester.user},
                            "display": requester.name})
    author: dict[str, Any] = {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                             "code": "author"}]},
        "who": who}
    if not own:
        author["onBehalfOf"] = org_ref(requester.org)
    return {
        "resourceType": "Provenance", "id": pid, "target": [{"reference": target}],
        "recorded": now.isoformat(),
        "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                 "code": "CREATE" if created else "UPDATE"}]},
        "agent": [author,
                  {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                        "code": "assembler"}]},
                   "who": {"display": "care-gateway API (POST/PUT /fhir/Consent)"}}],
    }
