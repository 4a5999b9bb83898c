"""Categories come from the live policy, never from a label frozen at ingest (docs/architecture.md).

The store keeps each resource's labels with the hash of the category definitions that made them
(``labels_version``) and the adapter's section hint (``label_section``). Before anything is decided,
:meth:`LiveLabels.apply` gives every candidate the labels the *pinned* policy gives it: the stored
ones when they were made under the same definitions (no parsing), otherwise derived again from the
stored content and hint, memoised per (definitions × resource version). :func:`relabel` refreshes
the stored cache after a new policy goes live, so that later requests take the cheap path again;
correctness never waits for it.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, Protocol

from gateway.logging import get_logger
from gateway.store import ResourceStore, StoredResource

log = get_logger("gateway.disclosure")


class Labeller(Protocol):
    @property
    def labels_version(self) -> str: ...

    def categorize(self, resource: dict[str, Any], hints: dict[str, Any] | None = None) -> tuple[str, ...]: ...


def hints_of(stored: StoredResource) -> dict[str, Any] | None:
    """The adapter hints labelling reads, as stored beside the resource."""
    return {"section": stored.label_section} if stored.label_section else None


class LiveLabels:
    """Labels under the policy a request pinned; one instance per gateway process."""

    def __init__(self, max_entries: int = 500_000) -> None:
        self._max = max_entries
        self._lock = threading.Lock()
        self._memos: dict[str, dict[tuple[str, str, int], tuple[str, ...]]] = {}

    def apply(self, policy: Labeller, items: Iterable[StoredResource]) -> None:
        """Give each item the categories ``policy`` gives it (in place: the items are this request's)."""
        version = policy.labels_version
        memo: dict[tuple[str, str, int], tuple[str, ...]] | None = None
        for stored in items:
            if stored.labels_version == version:
                continue
            if memo is None:
                memo = self._memo_for(version)
            key = (stored.resource_type, stored.id, stored.version_id)
            cats = memo.get(key)
            if cats is None:
                cats = policy.categorize(stored.content, hints_of(stored))
                if len(memo) >= self._max:
                    memo.clear()
                memo[key] = cats
            stored.categories, stored.labels_version = cats, version

    def _memo_for(self, version: str) -> dict[tuple[str, str, int], tuple[str, ...]]:
        # The live definitions and the previous ones (a request pinned before a publication may
        # still be deciding under them); older memos are dropped.
        with self._lock:
            memo = self._memos.get(version)
            if memo is None:
                if len(self._memos) >= 2:
                    self._memos.pop(next(iter(self._memos)))
                memo = self._memos[version] = {}
            return memo


def relabel(store: ResourceStore, policy: Labeller, *, batch: int = 2000) -> int:
    """Bring the stored labels up to ``policy``'s definitions; returns how many rows changed.

    A cache refresh only: the read path never trusts labels of another version, so this may run in
    the background and be interrupted at any point."""
    version, changed = policy.labels_version, 0
    for rows in store.labelled_otherwise(version, batch=batch):
        updates = [(s.resource_type, s.id, s.version_id, policy.categorize(s.content, hints_of(s))) for s in rows]
        changed += store.store_labels(updates, version)
    log.info("labels.refreshed", labels_version=version, rows=changed)
    return changed
