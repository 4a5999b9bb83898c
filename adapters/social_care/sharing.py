"""<Objection> / <Consent> -> FHIR Consent (policyRule sharing-preference), deny / permit."""
from __future__ import annotations

from adapters.base import MappedRecord
from adapters.fhir_helpers import consent, org_ref, ref, sharing_provision
from adapters.social_care.model import Export, Item


def preference(export: Export, item: Item, lpa_id: str | None) -> list[MappedRecord]:
    permit = item.elem.tag.rsplit("}", 1)[-1] == "Consent"
    by_attorney = item.attr("givenBy") == "attorney"
    performer = (ref("RelatedPerson", lpa_id) if by_attorney and lpa_id
                 else None if by_attorney else ref("Patient", export.patient_id))
    resource = consent(
        export.id("Consent", item.id), patient=ref("Patient", export.patient_id),
        policy="sharing-preference",
        provision=sharing_provision(permit, item.attr("recipientOds"), item.attr("category")),
        status="entered-in-error" if item.retracted else "active",
        recorded=item.date("recorded"), performer=performer, organization=org_ref(export.council))
    record = export.item_record(item, resource)
    if by_attorney and not lpa_id:  # kept, but flagged: no attorney on record to have given it
        record.hints["warning"] = "givenBy=attorney but the export holds no health-and-welfare Attorney"
    return [record]
