"""Wiring: build the gateway's long-lived parts (store, policy, audit, auth, ingest) from settings."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from gateway.audit import AuditLog, load_or_create_signing_key
from gateway.auth import TokenVerifier
from gateway.deployment import require_initialised
from gateway.disclosure import DisclosureService
from gateway.ingest.pipeline import Ingestor
from gateway.ingest.quarantine import MatchReview, Quarantine
from gateway.ingest.registry import load_adapters
from gateway.ingest.sources import SourceRegistry
from gateway.policy import PolicyHolder
from gateway.policy.publication import PolicyPublications
from gateway.settings import Settings
from gateway.store import ResourceStore, make_engine, migrate


@dataclass
class Gateway:
    settings: Settings
    engine: Engine
    store: ResourceStore
    policies: PolicyHolder
    audit: AuditLog
    verifier: TokenVerifier
    quarantine: Quarantine
    review: MatchReview
    ingestor: Ingestor
    disclosure: DisclosureService

    def close(self) -> None:
        stop = getattr(self.policies, "stop_polling", None)  # benchmarks swap in fixed-engine holders
        if stop is not None:
            stop()
        self.engine.dispose()


def build_gateway(settings: Settings, *, run_migrations: bool = True) -> Gateway:
    """The gateway's parts for ``settings``; NotInitialised when `gateway init` has not created its keys
    and database (nothing is created here)."""
    require_initialised(settings)
    engine = make_engine(settings.database_url)
    if run_migrations:
        migrate(engine)
    store = ResourceStore(engine)
    publications = (PolicyPublications(engine, Path(settings.policy_cache_dir))
                    if settings.policy_publication else None)
    policies = PolicyHolder(Path(settings.policy_dir), publications=publications)
    policies.start_from_database()
    audit = AuditLog(engine, signing_key=load_or_create_signing_key(Path(settings.audit_key)),
                     checkpoint_every=settings.audit_checkpoint_every)
    quarantine, review = Quarantine(engine), MatchReview(engine)
    ingestor = Ingestor(store, quarantine, review, lambda r, h: policies.engine.label(r, h), load_adapters())
    ingestor.sources = SourceRegistry.load(settings.sources)
    return Gateway(settings, engine, store, policies, audit, TokenVerifier(settings), quarantine, review, ingestor,
                   DisclosureService(store, policies, audit))
