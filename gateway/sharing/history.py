"""A person's own access history: who looked at my record, when and why — decided through the policy.

``GET /fhir/AuditEvent?patient=Patient/<id>`` (gateway/api/person_routes.py) answers it from the
audit log as IHE BALP AuditEvents with the person as the patient entity. Which records are shown,
and what of them, is decided by the same policy snapshot that decides the person's own request for
their record (docs/policy.md, "The person's access history"):

1. Every item a record names is decided for the person as their own ``patient_request`` would
   decide it (their role and purpose, ``own_record`` true, their context): the most restrictive of
   its categories. An item hidden from the person — or a category (a field group) hidden from
   them — is never named to them: the record is shown without it.
2. A record every item of which is hidden from the person is left out altogether: it was only
   about something the person is not told exists, so nothing of it can be said. (A record naming
   no item at all — a refusal, a request that ended before any decision — is shown.)
3. Records under a purpose listed in ``settings.yaml`` ``person_view.omit_purposes`` are left out.
4. What a record shows: time, the organisation (code and name), the role, the staff member's name
   when ``person_view.staff_names`` is ``name_and_organisation``, the purpose, the justification
   only under a purpose that grants relationship (break glass), the outcome, and the *categories*
   released, redacted and withheld — never item ids, query strings, refusal texts or notices, which
   can carry a withheld item's content or its existence.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from adapters.base import NHS_NUMBER_SYSTEM, ODS_SYSTEM
from gateway.audit.auditevent import DCM, LOCAL, event_skeleton, patient_entity, resource_entity
from gateway.audit.model import AuditEntry
from gateway.disclosure.service import Disclosure
from gateway.policy.model import Item, PatientContext

SHOWN_TYPES = (None, "consent")  # disclosures, refusals and errors; choices recorded through the API


class PersonView:
    """The policy's answers for one person's look at their history (one pinned policy, one context)."""

    def __init__(self, disclosure: Disclosure, context: PatientContext) -> None:
        self.d = disclosure
        self.engine = disclosure.engine
        self.context = context
        self.settings = self.engine.vocabulary.person_view
        self._hidden: dict[str, bool] = {}
        self._items: dict[tuple[Any, ...], bool] = {}

    def hidden(self, category: str) -> bool:
        """Whether the person's own request would hide this category (unknown categories: hidden)."""
        if category not in self._hidden:
            requester = self.d.requester
            item = Item({"resourceType": ""}, (category,))
            facts = self.engine.facts_for(requester, self.context, item, category)
            outcome = self.engine.outcome(requester.role, requester.purpose, category, facts)
            self._hidden[category] = outcome.effect == "hide"
        return self._hidden[category]

    def item_hidden(self, categories: Any) -> bool:
        key = tuple(categories or ())
        found = self._items.get(key)
        if found is None:
            found = self._items[key] = any(self.hidden(str(c)) for c in key)
        return found

    def shown(self, record: dict[str, Any]) -> dict[str, list[str]] | None:
        """The categories to show under released / redacted / withheld; None: leave the record out."""
        if record.get("type") not in SHOWN_TYPES or record.get("purpose") in self.settings.omit_purposes:
            return None
        items = record.get("items") or {}
        every = [i for b in ("released", "redacted", "noticed", "hidden", "recorded") for i in items.get(b) or []]
        # An item is decided for the person as their own request would decide it: the most restrictive of
        # its categories, so an item with any hidden category (an HIV diagnosis: clinical_summary +
        # restricted) is hidden whole — its other categories do not speak for it.
        visible = {id(i) for i in every if not self.item_hidden(i.get("categories"))}
        if every and not visible:
            return None  # only about what the person is not told exists

        def cats(buckets: Iterable[str], key: str = "categories") -> list[str]:
            chosen = [i for b in buckets for i in items.get(b) or [] if id(i) in visible]
            found = dict.fromkeys(str(c) for i in chosen for c in i.get(key) or ())
            return [c for c in found if not self.hidden(c)]

        withheld = cats(["noticed", "hidden"]) + cats(["redacted"], "redacted_categories")
        return {"released": cats(["released"]), "redacted": cats(["redacted"]),
                "withheld": list(dict.fromkeys(withheld)), "recorded": cats(["recorded"])}

    def event(self, entry: AuditEntry, shown: dict[str, list[str]], patient_id: str, nhs: str | None,
              org_name: Any) -> dict[str, Any]:
        record = entry.record
        event = event_skeleton(entry, self._agents(record, org_name), about_patient=True)
        if record.get("outcome") != "disclosed":
            event["outcomeDesc"] = str(record.get("outcome"))  # never the reason text: it may quote a notice
        purpose = record.get("purpose")
        if purpose:
            event["purposeOfEvent"] = [{"coding": self._purpose_coding(str(purpose))}]
        patient: dict[str, Any] = {"reference": f"Patient/{patient_id}"}
        if nhs:
            patient["identifier"] = {"system": NHS_NUMBER_SYSTEM, "value": nhs}
        event["entity"] = [patient_entity(patient), *(
            resource_entity(treatment, {"name": treatment, "description": f"{treatment}: {', '.join(categories)}",
                                        "detail": [{"type": "category", "valueString": c} for c in categories]})
            for treatment, categories in shown.items() if categories)]
        return event

    def _purpose_coding(self, purpose: str) -> list[dict[str, Any]]:
        coding = [{"system": LOCAL + "purpose", "code": purpose}]
        code = self.engine.purpose_code(purpose)
        if code and "|" in code:
            system, value = code.split("|", 1)
            coding.insert(0, {"system": system, "code": value})
        return coding

    def _agents(self, record: dict[str, Any], org_name: Any) -> list[dict[str, Any]]:
        requester = record.get("requester") or {}
        purpose = record.get("purpose")
        agents: list[dict[str, Any]] = [
            {"type": {"coding": [{"system": DCM, "code": "110152", "display": "Destination Role ID"}]},
             "who": {"display": "care-gateway"}, "requestor": False}]
        role = requester.get("role")
        user: dict[str, Any] = {
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                 "code": "IRCP", "display": "information recipient"}]},
            "who": {"display": self._who(requester)}, "requestor": True}
        if role:
            described = self.engine.vocabulary.roles.get(str(role))
            user["role"] = [{"coding": [{"system": LOCAL + "role", "code": str(role)}],
                             **({"text": described.description} if described else {})}]
        if purpose:
            pou: dict[str, Any] = {"coding": self._purpose_coding(str(purpose))}
            p = self.engine.vocabulary.purposes.get(str(purpose))
            if p is not None and p.grants_relationship and record.get("justification"):
                pou["text"] = str(record["justification"])  # break glass: the person is told why
            user["purposeOfUse"] = [pou]
        agents.append(user)
        org = requester.get("org")
        if org:
            name = org_name(str(org))
            agents.append({"type": {"text": "organisation of the user"},
                           "who": {"identifier": {"system": ODS_SYSTEM, "value": str(org)},
                                   "display": name or str(org)},
                           "requestor": False})
        return agents

    def _who(self, requester: dict[str, Any]) -> str:
        role = self.engine.vocabulary.roles.get(str(requester.get("role")))
        if role is not None and role.own_record_only:  # a person signed in as themselves
            return "you" if requester.get("user") == self.d.requester.user else "another person signed in as themselves"
        if self.settings.staff_names == "name_and_organisation" and requester.get("name"):
            return str(requester["name"])
        return "a member of staff"


def access_history(disclosure: Disclosure, patient_id: str, nhs: str | None,
                   context: PatientContext) -> list[dict[str, Any]]:
    """The person's access history as AuditEvents, newest first."""
    service = disclosure.service
    audit = service.audit
    entries: list[AuditEntry] = list(audit.iter_entries(person=(nhs, patient_id)))  # one pass, by either
    view = PersonView(disclosure, context)
    events = []
    for entry in reversed(entries):
        shown = view.shown(entry.record)
        if shown is not None:
            events.append(view.event(entry, shown, patient_id, nhs, service.names.name))
    return events
