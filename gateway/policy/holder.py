"""Hot reload: the engine in force, swapped atomically only for a fully checked new version.

With ``publications`` (gateway/policy/publication.py) the version in force is the newest one
published in the database: ``reload`` publishes what it puts live, and ``sync`` (called by the
poller every ``policy_poll_seconds``) puts live in this process what another process published."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from gateway.logging import get_logger
from gateway.metrics import POLICY_SWAPS
from gateway.policy.engine import PolicyEngine
from gateway.policy.errors import PolicyError
from gateway.policy.loader import content_hash

if TYPE_CHECKING:
    from gateway.policy.publication import PolicyPublications

log = get_logger("gateway.policy")


@dataclass(frozen=True)
class ReloadResult:
    changed: bool
    version: str
    previous: str


class PolicyHolder:
    def __init__(self, directory: Path, engine: PolicyEngine | None = None,
                 publications: PolicyPublications | None = None) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._engine = engine if engine is not None else PolicyEngine.load(self.directory)
        self.publications = publications
        self._seen = 0  # the newest publication id this process has acted on
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        self.listening = threading.Event()  # set while a LISTEN connection is open (PostgreSQL)

    @property
    def engine(self) -> PolicyEngine:
        return self._engine  # a single reference read: readers never see a half-built engine

    @property
    def version(self) -> str:
        return self._engine.version

    @property
    def seen_publication(self) -> int:
        """The newest publication id this process has acted on (0: none)."""
        return self._seen

    def reload(self, directory: Path | None = None, *, by: str | None = None,
               adopt_directory: bool = True) -> ReloadResult:
        """Load ``directory`` (default: the current one); swap only if it loads and proves its
        invariants. Raises :class:`PolicyError` with the reasons otherwise — the old engine stays.
        With publications, the new version is published first (every process then picks it up).
        ``adopt_directory=False`` publishes a snapshot (the console's approved proposal, a rollback)
        while ``directory`` stays the policy on disk that IG staff edit."""
        target = Path(directory) if directory is not None else self.directory
        with self._lock:
            previous = self._engine.version
            if target == self.directory and content_hash(target) == previous:
                return ReloadResult(False, previous, previous)
            engine = PolicyEngine.load(target)  # raises PolicyError; nothing changed then
            if self.publications is not None:
                self._seen = self.publications.publish(target, engine.version, by=by).id
            self._engine = engine
            if adopt_directory:
                self.directory = target
            POLICY_SWAPS.inc("reload")
            return ReloadResult(engine.version != previous, engine.version, previous)

    def try_reload(self, directory: Path | None = None, *, by: str | None = None, adopt_directory: bool = True
                   ) -> tuple[ReloadResult | None, PolicyError | None]:
        try:
            return self.reload(directory, by=by, adopt_directory=adopt_directory), None
        except PolicyError as exc:
            return None, exc

    # -- publication through the database ----------------------------------------------------
    def start_from_database(self) -> None:
        """At startup: serve the newest published version (the database, not this host's disk,
        says what is in force); publish this directory's version when nothing is published yet."""
        if self.publications is None:
            return
        latest = self.publications.latest()
        if latest is None:
            with self._lock:
                self._seen = self.publications.publish(self.directory, self._engine.version, by="startup").id
            return
        if latest.version != self._engine.version:
            log.warning("policy.directory_not_published", directory=str(self.directory),
                        directory_version=self._engine.version, published_version=latest.version)
        self.sync()

    def sync(self) -> bool:
        """Put live the newest published version if it is not this process's; True when swapped."""
        if self.publications is None:
            return False
        latest = self.publications.latest()
        if latest is None or latest.id <= self._seen:
            return False
        with self._lock:
            if latest.id <= self._seen:
                return False
            if latest.version == self._engine.version:
                self._seen = latest.id
                return False
            try:
                engine = PolicyEngine.load(self.publications.materialise(latest))
            except (PolicyError, ValueError) as exc:  # keep serving the engine in force
                log.error("policy.publication_rejected", publication=latest.id, version=latest.version,
                          error=str(exc))
                self._seen = latest.id
                return False
            if engine.version != latest.version:
                log.error("policy.publication_version_mismatch", publication=latest.id, expected=latest.version,
                          loaded=engine.version)
                self._seen = latest.id
                return False
            previous, self._engine, self._seen = self._engine.version, engine, latest.id
        POLICY_SWAPS.inc("publication")
        log.info("policy.published_version_live", version=engine.version, previous=previous, publication=latest.id)
        return True

    def start_polling(self, interval: float) -> None:
        """Check the database for a newer publication every ``interval`` seconds (daemon thread);
        on PostgreSQL also LISTEN for the publish's NOTIFY, so that the swap starts at once."""
        if self.publications is None or interval <= 0 or self._poller is not None:
            return
        self._stop.clear()

        def poll() -> None:
            while not self._stop.wait(interval):
                try:
                    self.sync()
                except Exception as exc:  # a database blip must not kill the poller
                    log.warning("policy.poll_failed", error=str(exc))

        self._poller = threading.Thread(target=poll, name="policy-poller", daemon=True)
        self._poller.start()
        if self.publications.engine.dialect.name == "postgresql":
            self._listener = threading.Thread(target=self._listen, name="policy-listener", daemon=True)
            self._listener.start()

    def _listen(self) -> None:
        """PostgreSQL: LISTEN for the publish's NOTIFY and sync at once (the poll stays as the
        fallback for a dropped connection or a missed notification)."""
        assert self.publications is not None
        url = self.publications.engine.url
        conninfo: dict[str, Any] = {"host": url.host, "port": url.port, "user": url.username, "password": url.password,
                    "dbname": url.database}
        while not self._stop.is_set():
            try:
                with psycopg.connect(autocommit=True, connect_timeout=5,
                                     **{k: v for k, v in conninfo.items() if v is not None}) as conn:
                    conn.execute("LISTEN gateway_policy")
                    self.listening.set()
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.sync()
            except Exception as exc:  # reconnect after a pause; the poller covers the gap
                self.listening.clear()
                log.warning("policy.listen_failed", error=str(exc))
                self._stop.wait(5)

    def stop_polling(self) -> None:
        self._stop.set()
        for thread in (self._poller, self._listener):
            if thread is not None:
                thread.join(timeout=5)
        self._poller = self._listener = None
        self.listening.clear()
