"""Hot reload: the engine in force, swapped atomically only for a fully checked new version."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from gateway.policy.engine import PolicyEngine
from gateway.policy.errors import PolicyError
from gateway.policy.loader import content_hash


@dataclass(frozen=True)
class ReloadResult:
    changed: bool
    version: str
    previous: str


class PolicyHolder:
    def __init__(self, directory: Path, engine: PolicyEngine | None = None) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._engine = engine if engine is not None else PolicyEngine.load(self.directory)

    @property
    def engine(self) -> PolicyEngine:
        return self._engine  # a single reference read: readers never see a half-built engine

    @property
    def version(self) -> str:
        return self._engine.version

    def reload(self, directory: Path | None = None) -> ReloadResult:
        """Load ``directory`` (default: the current one); swap only if it loads and proves its
        invariants. Raises :class:`PolicyError` with the reasons otherwise — the old engine stays."""
        target = Path(directory) if directory is not None else self.directory
        with self._lock:
            previous = self._engine.version
            if target == self.directory and content_hash(target) == previous:
                return ReloadResult(False, previous, previous)
            engine = PolicyEngine.load(target)  # raises PolicyError; nothing changed then
            self._engine, self.directory = engine, target
            return ReloadResult(engine.version != previous, engine.version, previous)

    def try_reload(self, directory: Path | None = None) -> tuple[ReloadResult | None, PolicyError | None]:
        try:
            return self.reload(directory), None
        except PolicyError as exc:
            return None, exc
