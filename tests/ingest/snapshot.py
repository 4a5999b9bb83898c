"""What a gateway's store holds, without the moments of writing: two ingests of the same inputs (batched
and one by one; interrupted by a fault and clean) must give equal snapshots."""
from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import sqlalchemy as sa

from gateway.ingest.tables import MatchReviewRow, QuarantineRow
from gateway.store.tables import ResourceRow, ResourceVersionRow, SearchTokenRow
from gateway.wiring import Gateway


def _without_stamp(content: str) -> dict[str, Any]:
    """Without the times of writing: the write time, and Provenance.recorded of a message that has no
    time of its own (then it is the time of ingest)."""
    resource = orjson.loads(content)
    resource.get("meta", {}).pop("lastUpdated", None)
    if resource["resourceType"] == "Provenance":
        resource.pop("recorded")
    return resource  # type: ignore[no-any-return]


def snapshot(gw: Gateway) -> dict[str, Any]:
    r, v, t = ResourceRow.__table__, ResourceVersionRow.__table__, SearchTokenRow.__table__
    q, m = QuarantineRow.__table__, MatchReviewRow.__table__
    with gw.engine.connect() as conn:
        resources = {
            (row.resource_type, row.id): (row.version_id, row.deleted, row.patient_id,
                                          row.clinical_date if row.resource_type != "Provenance" else None,
                                          row.categories, row.holder_org, row.holder_team, row.source_system,
                                          row.source_id, row.source_updated, _without_stamp(row.content))
            for row in conn.execute(sa.select(r))}
        versions = {(row.resource_type, row.id, row.version_id): (row.deleted, _without_stamp(row.content))
                    for row in conn.execute(sa.select(v))}
        # A Provenance's recorded time is the ingest's own moment, as in its clinical_date above.
        tokens = Counter((row.resource_type, row.resource_id, row.param, row.system,
                          None if row.resource_type == "Provenance" and row.low is not None else row.code)
                         for row in conn.execute(sa.select(t)))
        quarantine = sorted((row.format, row.origin, row.location, row.reason, row.raw, row.status)
                            for row in conn.execute(sa.select(q)))
        review = sorted((row.format, row.origin, row.nhs_number or "", row.reason, row.raw, row.status)
                        for row in conn.execute(sa.select(m)))
    return {"resources": resources, "versions": versions, "tokens": tokens, "quarantine": quarantine,
            "review": review}
