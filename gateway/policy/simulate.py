"""What a requester would see of a record, without serving or auditing anything."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.policy.engine import PolicyEngine
from gateway.policy.model import Item, ItemDecision, PatientContext, RequestDecision
from gateway.policy.redact import apply_redaction
from gateway.requester import Requester


@dataclass(frozen=True)
class SimulatedItem:
    item: Item
    decision: ItemDecision
    released: dict[str, Any] | None  # the resource as the requester would receive it (None if withheld)


@dataclass(frozen=True)
class Simulation:
    version: str
    request: RequestDecision
    items: tuple[SimulatedItem, ...]

    def counts(self) -> dict[str, int]:
        out = {"release": 0, "redact": 0, "notice": 0, "hide": 0}
        for s in self.items:
            out[s.decision.effect] += 1
        return out


def simulate(engine: PolicyEngine, requester: Requester, patient: PatientContext, items: Iterable[Item]) -> Simulation:
    request = engine.check_request(requester)
    out = []
    for item in items if request.allowed else ():
        d = engine.decide(requester, patient, item)
        released = apply_redaction(item.resource, d) if d.effect in ("release", "redact") else None
        out.append(SimulatedItem(item, d, released))
    return Simulation(engine.version, request, tuple(out))
