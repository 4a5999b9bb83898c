"""Attach a Provenance to every stored message: source system, source record ids, time, adapter."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.base import ODS_SYSTEM, MappedRecord
from adapters.conventions import BASE
from gateway.ingest.work import Labelled, Work, provenance_id

__all__ = ["SOURCE_RECORD_SYSTEM", "attach_provenance", "provenance_for", "provenance_id"]

SOURCE_RECORD_SYSTEM = f"{BASE}/Id/source-record"


def provenance_for(work: Work) -> dict[str, Any]:
    message = work.message
    stamps = [r.record.source_updated for r in work.records if r.record.source_updated]
    recorded = message.message_time or (max(stamps) if stamps else datetime.now(UTC))
    if recorded.tzinfo is None:
        recorded = recorded.replace(tzinfo=UTC)
    return {
        "resourceType": "Provenance",
        "id": work.provenance_id,
        "target": [{"reference": ref} for ref in _targets(work)],
        "recorded": recorded.isoformat(),
        "agent": [
            {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                  "code": "author"}]},
             "who": {"identifier": {"system": ODS_SYSTEM, "value": message.source_system},
                     "display": message.source_system}},
            {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                  "code": "assembler"}]},
             "who": {"display": f"care-gateway {work.adapter.format} adapter {work.adapter.version}"}},
        ],
        "entity": [
            {"role": "source",
             "what": {"identifier": {"system": f"{SOURCE_RECORD_SYSTEM}/{labelled.record.source_system}",
                                     "value": labelled.record.source_id},
                      "display": message.origin}}
            for labelled in work.records
        ],
    }


def _targets(work: Work) -> list[str]:
    """What the message wrote; a source's own Patient copy was folded into the matched Patient."""
    refs = []
    for r in work.resources:
        rid = work.patient_id if r["resourceType"] == "Patient" and work.patient_id else r["id"]
        refs.append(f"{r['resourceType']}/{rid}")
    return list(dict.fromkeys(refs))


def attach_provenance(work: Work) -> Work:
    if work.records:
        resource = provenance_for(work)
        work.records.append(Labelled(MappedRecord(
            resource=resource, source_system=work.message.source_system,
            source_id=f"Provenance/{resource['id']}", patient_nhs_number=None, location="(provenance)",
            hints={"provenance": True})))
    return work
