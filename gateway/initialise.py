"""`gateway init`: the one place keys and the database schema are created (gateway.deployment is the
check every other entry point makes)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.audit.signing import load_or_create_signing_key
from gateway.auth import DEV_KID_PREFIX, PROD_KID_PREFIX, create_signing_key
from gateway.settings import Settings
from gateway.store import make_engine, migrate


@dataclass(frozen=True)
class Initialised:
    signing_key_created: bool


def initialise(settings: Settings, *, production: bool = False, replace: bool = False) -> Initialised:
    """Create the keys (access-token signing key with its public half in the trusted JWKS, audit checkpoint
    key) and the database schema. Idempotent: existing keys are kept unless ``replace``."""
    prefix = PROD_KID_PREFIX if production or settings.production else DEV_KID_PREFIX
    made = create_signing_key(settings, prefix, replace=replace)
    load_or_create_signing_key(Path(settings.audit_key))
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    return Initialised(made)
