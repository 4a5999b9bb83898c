"""The unit of work the ingest steps pass along: one source message and what became of it."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from adapters.base import Adapter, MappedRecord, Rejected, SourceMessage, stable_id

if TYPE_CHECKING:
    from gateway.ingest.batch import IngestBatch


def provenance_id(message: SourceMessage) -> str:
    """Stable per message, so a re-sent message updates its Provenance (ingest prefetches it by this id)."""
    key = message.message_id or hashlib.sha256(message.raw).hexdigest()
    return stable_id(message.source_system, "Provenance", key)


@dataclass
class Labelled:
    record: MappedRecord
    categories: tuple[str, ...] = ()  # as the policy in force at ingest labels it: a cache (docs/architecture.md)
    labels_version: str | None = None  # the hash of the category definitions that made ``categories``


@dataclass
class Work:
    adapter: Adapter
    message: SourceMessage
    batch: IngestBatch  # the open transaction every step reads and writes through
    records: list[Labelled] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    patient_id: str | None = None  # the gateway's Patient id this message is about
    held_for_review: str | None = None  # reason, when patient matching needs a person to decide
    forced_patient_id: str | None = None  # set when a reviewer resolved the match
    outcomes: dict[str, int] = field(default_factory=dict)
    unknown_codes: int = 0
    store_refused: str | None = None  # the database refused this message's rows (it is quarantined)
    failed: tuple[str, str] | None = None  # (location, reason) when an adapter failed on the whole message
    patient_refused: str | None = None  # why validation refused the message's own Patient (it then has none)
    stale: list[tuple[str, str]] = field(default_factory=list)  # (reference, source id) of ignored old versions
    sender: str | None = None  # who pushed the bytes (HTTP: the token's org); None: the operator's own CLI

    @cached_property
    def provenance_id(self) -> str:
        """The id of the message's Provenance (read twice per message: prefetch, then Provenance)."""
        return provenance_id(self.message)

    def count(self, outcome: str, n: int = 1) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + n

    @property
    def resources(self) -> list[dict[str, Any]]:
        return [labelled.record.resource for labelled in self.records]
