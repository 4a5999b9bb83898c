"""Consultations: Encounter."""
from __future__ import annotations

from typing import Any

from adapters.gp_connect.common import DATA_ABSENT_REASON, rename


def map_encounter(resource: dict[str, Any]) -> dict[str, Any]:
    rename(resource, "reason", "reasonCode")
    rename(resource, "incomingReferral", "basedOn")  # the referral becomes a ServiceRequest too
    if "class" not in resource:
        # R4 makes class mandatory; GP Connect consultations rarely send one. Say "unknown"
        # honestly rather than guess ambulatory / home visit / telephone.
        resource["class"] = {"system": DATA_ABSENT_REASON, "code": "unknown", "display": "Unknown"}
    return resource
