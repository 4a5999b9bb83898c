"""The ASGI factory each worker process of ``gateway serve --workers N`` calls (uvicorn imports it
by name in every worker). The parent has already migrated the schema, created keys and published
the policy, so workers only connect: N processes never race to migrate one database."""
from __future__ import annotations

import gc

from fastapi import FastAPI

from gateway.api.app import create_app
from gateway.logging import configure
from gateway.settings import get_settings
from gateway.wiring import build_gateway


def create() -> FastAPI:
    settings = get_settings()
    configure(settings.log_level)
    app = create_app(build_gateway(settings, run_migrations=False))
    gc.freeze()  # as serve does: startup's objects are never garbage
    return app
