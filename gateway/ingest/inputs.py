"""Which files an operator's `gateway ingest PATH...` may read, and which bytes are never kept.

- an empty path (an unset shell variable: ``gateway ingest --format social-care "$EXPORT_DIR"``) is
  refused, never taken to mean the working directory;
- walking a folder skips hidden entries (``.git``, ``.env``, ``.ssh``...) and virtual environments /
  package caches unless the operator named that folder (or file) itself;
- a file that looks like a private key (PEM, OpenSSH, PuTTY, a JWK with a private member) is never
  read into the pipeline, and :func:`looks_like_key` is also applied by the quarantine, so key
  material reaching ingest any other way (HTTP) is not stored either.
"""
from __future__ import annotations

import glob
import os
import re
from pathlib import Path

SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__", "site-packages", "dist-packages", "venv", "env",
                             ".venv", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
KEY_SUFFIXES = frozenset({".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk", ".der"})
_KEY_NAME = re.compile(r"^(id_(rsa|dsa|ecdsa|ed25519)(_sk)?|.*signing-jwks.*|.*private.*key.*)$", re.IGNORECASE)
_PEM_PRIVATE = re.compile(rb"-----BEGIN (?:[A-Z0-9 ]+ )?PRIVATE KEY(?: BLOCK)?-----")
_JWK_PRIVATE = re.compile(rb'"(?:d|p|q|dp|dq|qi|k)"\s*:\s*"[A-Za-z0-9_-]{16,}')


class InputError(ValueError):
    """A path the operator gave cannot be ingested as asked (empty, missing)."""


def looks_like_key(raw: bytes, name: str = "") -> bool:
    """Whether ``raw`` (or a file called ``name``) looks like private key material."""
    head = raw[:256 * 1024]
    if _PEM_PRIVATE.search(head) or b"PuTTY-User-Key-File" in head or b"-----BEGIN PGP PRIVATE KEY" in head:
        return True
    if b'"kty"' in head and _JWK_PRIVATE.search(head):
        return True
    if name:
        path = Path(name)
        return path.suffix.lower() in KEY_SUFFIXES or bool(_KEY_NAME.match(path.name))
    return False


def _skipped(name: str) -> bool:
    return name.startswith(".") or name in SKIPPED_FOLDERS


def _is_venv(folder: Path) -> bool:
    return (folder / "pyvenv.cfg").is_file()


def walk(folder: Path) -> list[Path]:
    """Every file under ``folder`` (itself named by the operator, so walked even if hidden), skipping
    hidden entries and virtual environments below it; sorted."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not _skipped(d) and not _is_venv(here / d))
        found.extend(here / f for f in sorted(files) if not f.startswith("."))
    return sorted(found)


def expand_paths(paths: list[str]) -> list[Path]:
    """Files, folders (recursively) and globs, in a stable order. An empty path, or one that matches
    nothing, is an error. Globs never match hidden names unless the pattern spells the dot."""
    found: list[Path] = []
    for spec in paths:
        if not spec.strip():
            raise InputError("an empty path was given (an unset variable?): name the files or folders to ingest")
        matches = [Path(m) for m in sorted(glob.glob(spec, recursive=True))] or [Path(spec)]
        for match in matches:
            if match.is_dir():
                if match != Path(spec) and (_skipped(match.name) or _is_venv(match)):
                    continue  # a glob reached it: not named
                found.extend(walk(match))
            elif match.is_file():
                found.append(match)
            else:
                raise InputError(f"{spec}: no such file, folder or glob match")
    return found
