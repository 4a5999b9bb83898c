"""Whether a deployment has been prepared by `gateway init`: its keys and its database exist. Every entry
point but `gateway init` checks this first and creates nothing (a command run from the wrong folder would
otherwise answer "0 patients" from a new, empty database and sign with a new key)."""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from gateway.settings import Settings


class NotInitialised(RuntimeError):
    """Settings that point at keys or a database that do not exist yet."""

    def __init__(self, settings: Settings, missing: list[str]) -> None:
        super().__init__(f"not initialised ({'; '.join(missing)}) for database {database_label(settings)}: "
                         "run `gateway init` with the same settings first")
        self.missing = missing


def _sqlite_file(settings: Settings) -> Path | None:
    """The file of a file-backed SQLite database (None for a server, or SQLite in memory)."""
    url = sa.make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(str(url.database)).resolve()
    return None


def database_label(settings: Settings) -> str:
    """The database as an operator should see it: a SQLite file as its absolute path, a server URL without
    its password."""
    file = _sqlite_file(settings)
    return str(file) if file is not None else sa.make_url(settings.database_url).render_as_string(hide_password=True)


def missing_keys(settings: Settings) -> list[str]:
    missing = []
    if not Path(settings.audit_key).exists():
        missing.append(f"no audit key at {Path(settings.audit_key).resolve()}")
    if not settings.jwks.startswith("http") and not Path(settings.jwks).exists():
        missing.append(f"no trusted JWKS at {Path(settings.jwks).resolve()}")
    if not settings.production and not Path(settings.signing_jwks).exists():
        missing.append(f"no development signing key at {Path(settings.signing_jwks).resolve()}")
    return missing


def missing_database(settings: Settings) -> list[str]:
    """A SQLite file that does not exist (connecting would silently create an empty one)."""
    file = _sqlite_file(settings)
    return [f"no database file at {file}"] if file is not None and not file.exists() else []


def require_database(settings: Settings) -> None:
    missing = missing_database(settings)
    if missing:
        raise NotInitialised(settings, missing)


def require_initialised(settings: Settings) -> None:
    missing = missing_keys(settings) + missing_database(settings)
    if missing:
        raise NotInitialised(settings, missing)
