"""A do-nothing policy with the engine's interface: releases everything (benchmark baseline)."""
from __future__ import annotations

from typing import Any

from gateway.policy.model import Candidate, ItemDecision, PatientContext, RequestDecision
from gateway.requester import Requester

_ALLOWED = RequestDecision(True, ("release-all",))
_RELEASE = ItemDecision("release", ("release-all",))


class ReleaseAllEngine:
    version = "release-all"

    def __init__(self, categorizer: Any | None = None) -> None:
        self._categorizer = categorizer  # e.g. a PolicyEngine, to label like the real one

    def categorize(self, resource: dict[str, Any], hints: dict[str, Any] | None = None) -> tuple[str, ...]:
        return self._categorizer.categorize(resource, hints) if self._categorizer is not None else ()

    @property
    def labels_version(self) -> str:
        return str(getattr(self._categorizer, "labels_version", "release-all"))

    def check_request(self, requester: Requester) -> RequestDecision:
        return _ALLOWED

    def decision_key(self, stored: Candidate) -> tuple[()]:
        """decide() reads nothing from the item: every item shares one decision (no parsing)."""
        return ()

    def decide(self, requester: Requester, patient: PatientContext, item: Candidate) -> ItemDecision:
        return _RELEASE
