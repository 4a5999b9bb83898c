"""Cross-process policy publication: the live policy version is a row in the database.

Every gateway process (``serve --workers N``, several hosts behind a load balancer) holds its own
compiled engine. Putting a policy live — ``/policy/reload``, ``gateway policy publish``, the
console's publish — appends a row here with the version (content hash) and the policy files
themselves, so a process on another host needs no shared filesystem. Every process polls the
newest row (one indexed query, ``policy_poll_seconds`` apart, default 1 s) and swaps its engine
when the version differs; on PostgreSQL a ``NOTIFY gateway_policy`` also goes out on publish and
every process LISTENs for it (PolicyHolder._listen), so the swap starts at once. A process
therefore serves the new version at most ``policy_poll_seconds`` + the time to compile it
(≈ 0.2-0.7 s here) after the publishing commit — on PostgreSQL, normally just the compile time.

The newest row wins. A row is only ever written for a policy that loaded, proved its invariants
(and, through ``/policy/reload``, passed its IG tests) in the publishing process; a receiving
process re-checks the content hash and loads it again, and keeps its engine if that fails."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from gateway.policy.loader import _ignored

policy_publication = sa.Table(
    "policy_publication", SQLModel.metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("version", sa.String(80), nullable=False, index=True),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("published_by", sa.Text),
    sa.Column("source", sa.Text),  # the directory it was published from, for people
    sa.Column("files", sa.Text, nullable=False),  # {"relative/path": "content"} as JSON
)

_LATEST = (sa.select(policy_publication.c.id, policy_publication.c.version)
           .order_by(policy_publication.c.id.desc()).limit(1))


@dataclass(frozen=True)
class Publication:
    id: int
    version: str


def read_files(directory: Path) -> dict[str, str]:
    """The policy content as content_hash sees it: every non-ignored file, by relative path."""
    directory = Path(directory)
    return {p.relative_to(directory).as_posix(): p.read_bytes().decode("utf-8")
            for p in sorted(directory.rglob("*")) if p.is_file() and not _ignored(p, directory)}


def files_hash(files: dict[str, str]) -> str:
    """content_hash of a directory holding ``files`` (the same bytes, the same order)."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + files[rel].encode("utf-8") + b"\0")
    return "sha256:" + digest.hexdigest()


class PolicyPublications:
    def __init__(self, engine: Engine, cache_dir: Path) -> None:
        self.engine = engine
        self.cache_dir = Path(cache_dir)

    def latest(self) -> Publication | None:
        with self.engine.connect() as conn:
            row = conn.execute(_LATEST).first()
        return None if row is None else Publication(int(row.id), str(row.version))

    def publish(self, directory: Path, version: str, by: str | None = None) -> Publication:
        files = read_files(directory)
        if files_hash(files) != version:
            raise ValueError(f"{directory} changed while it was being published (expected {version})")
        with self.engine.begin() as conn:
            result = conn.execute(policy_publication.insert().values(
                version=version, published_at=datetime.now(UTC), published_by=by, source=str(directory),
                files=orjson.dumps(files).decode()))
            key = result.inserted_primary_key
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_notify('gateway_policy', :v)"), {"v": version})
        if key is None:
            raise RuntimeError("the database did not return the publication id")
        return Publication(int(key[0]), version)

    def materialise(self, publication: Publication) -> Path:
        """The published files as a directory under the cache (written once per version)."""
        target = self.cache_dir / publication.version.replace(":", "-")
        if target.is_dir():
            return target
        with self.engine.connect() as conn:
            body = conn.execute(sa.select(policy_publication.c.files)
                                .where(policy_publication.c.id == publication.id)).scalar_one()
        files: dict[str, str] = orjson.loads(body)
        if files_hash(files) != publication.version:
            raise ValueError(f"publication {publication.id}: its files do not hash to {publication.version}")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.cache_dir))
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
        try:
            os.replace(staging, target)  # atomic; another process may have won the race
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
        return target
