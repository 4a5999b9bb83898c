"""The two-person rule for publishing a policy: one IG officer proposes a version (the policy files as
they are when proposed, with a comment); a different one approves it, and only then is it published
(gateway/policy/publication.py). A proposal is decided once: approved (published), rejected, or
withdrawn by its proposer. Every step is also an audit record, written by the console.

Approval is three steps, so that a failure between any two leaves an honest state:

1. ``claim``: pending → ``publishing``, by the approver (a concurrent approver or rejecter loses);
2. the proposed files are published (live for every process: gateway/policy/publication.py);
3. ``complete``: publishing → ``approved``.

If step 2 fails the claim is released (back to pending). If the process dies after step 2, the
proposal says ``publishing`` — approved and being published — never ``pending`` (it would invite a
rejection of what is in force) nor ``approved`` before it is live; ``settle`` then completes it once
its version is found published after the claim, or returns it to pending when it never was."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from gateway.policy.publication import policy_publication
from gateway.times import as_utc

policy_proposal = sa.Table(
    "policy_proposal", SQLModel.metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),  # change (the policy on disk) | rollback (an earlier version)
    sa.Column("version", sa.String(80), nullable=False),  # content hash of the proposed files
    sa.Column("previous", sa.String(80)),  # the version in force when it was proposed
    sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("proposed_by", sa.Text, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("files", sa.Text, nullable=False),  # {"relative/path": "content"} as JSON
    # pending | publishing (approved, being published) | approved | rejected | withdrawn
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("decided_by", sa.Text),
    sa.Column("decision_comment", sa.Text),
)

PENDING = "pending"
PUBLISHING = "publishing"


class ProposalError(Exception):
    """A proposal cannot be decided that way (not pending, or the two-person rule)."""


@dataclass(frozen=True)
class Proposal:
    id: int
    kind: str
    version: str
    previous: str | None
    proposed_at: datetime
    proposed_by: str
    comment: str
    status: str
    decided_at: datetime | None
    decided_by: str | None
    decision_comment: str | None

    @classmethod
    def from_row(cls, row: Any) -> Proposal:
        return cls(int(row.id), row.kind, row.version, row.previous, row.proposed_at, row.proposed_by, row.comment,
                   row.status, row.decided_at, row.decided_by, row.decision_comment)


_COLUMNS = [c for c in policy_proposal.c if c.name != "files"]


class PolicyProposals:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def propose(self, files: dict[str, str], version: str, previous: str | None, by: str, comment: str,
                kind: str = "change") -> Proposal:
        if not comment.strip():
            raise ProposalError("a proposal needs a comment")
        with self.engine.begin() as conn:
            key = conn.execute(policy_proposal.insert().values(
                kind=kind, version=version, previous=previous, proposed_at=datetime.now(UTC), proposed_by=by,
                comment=comment.strip(), files=orjson.dumps(files).decode(), status=PENDING)).inserted_primary_key
        assert key is not None
        proposal = self.get(int(key[0]))
        assert proposal is not None
        return proposal

    def get(self, proposal_id: int) -> Proposal | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(*_COLUMNS).where(policy_proposal.c.id == proposal_id)).first()
        return None if row is None else Proposal.from_row(row)

    def files(self, proposal_id: int) -> dict[str, str]:
        with self.engine.connect() as conn:
            body = conn.execute(sa.select(policy_proposal.c.files)
                                .where(policy_proposal.c.id == proposal_id)).scalar_one()
        files: dict[str, str] = orjson.loads(body)
        return files

    def list(self, limit: int = 50) -> list[Proposal]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*_COLUMNS).order_by(policy_proposal.c.id.desc()).limit(limit))
            return [Proposal.from_row(r) for r in rows]

    def check_decision(self, proposal: Proposal, by: str, status: str) -> None:
        """Raise ProposalError unless ``by`` may move ``proposal`` to ``status``."""
        if proposal.status == PUBLISHING:
            raise ProposalError(f"proposal {proposal.id} was approved by {proposal.decided_by} and is being published")
        if proposal.status != PENDING:
            raise ProposalError(f"proposal {proposal.id} was already {proposal.status}")
        if status == "approved" and by == proposal.proposed_by:
            raise ProposalError("two-person rule: a proposal must be approved by a different IG officer "
                                "than the one who proposed it")
        if status == "withdrawn" and by != proposal.proposed_by:
            raise ProposalError("only the proposer may withdraw a proposal")

    def decide(self, proposal_id: int, by: str, status: str, comment: str | None = None) -> Proposal:
        """Reject or withdraw, only if the proposal is still pending (approval is claim → publish → complete)."""
        if status not in ("rejected", "withdrawn"):
            raise ValueError(f"{status}: a proposal is approved by claim, publication, then complete")
        return self._move(proposal_id, by, status, PENDING, status, comment)

    def claim(self, proposal_id: int, by: str, comment: str | None = None) -> Proposal:
        """Step 1 of approval: pending → publishing, by a different officer than the proposer."""
        return self._move(proposal_id, by, "approved", PENDING, PUBLISHING, comment)

    def release(self, proposal_id: int) -> None:
        """The publication failed: publishing → pending again, the claim forgotten."""
        with self.engine.begin() as conn:
            conn.execute(policy_proposal.update().where(policy_proposal.c.id == proposal_id,
                                                        policy_proposal.c.status == PUBLISHING)
                         .values(status=PENDING, decided_at=None, decided_by=None, decision_comment=None))

    def complete(self, proposal_id: int) -> Proposal:
        """Step 3 of approval, once the version is live: publishing → approved."""
        with self.engine.begin() as conn:
            done = conn.execute(policy_proposal.update().where(policy_proposal.c.id == proposal_id,
                                                               policy_proposal.c.status == PUBLISHING)
                                .values(status="approved")).rowcount
        proposal = self.get(proposal_id)
        if done != 1 or proposal is None:
            raise ProposalError(f"proposal {proposal_id} is not being published")
        return proposal

    def settle(self, stale_after: timedelta = timedelta(minutes=5)) -> tuple[tuple[Proposal, bool], ...]:
        """Proposals left ``publishing`` by an interrupted approval: completed when their version was
        published after the claim; returned to pending when it was not and the claim is older than
        ``stale_after`` (a younger one may still be publishing). Returns (proposal, completed)."""
        now = datetime.now(UTC)
        settled = []
        with self.engine.connect() as conn:
            rows = list(conn.execute(sa.select(*_COLUMNS).where(policy_proposal.c.status == PUBLISHING)))
            published = {r.id: conn.execute(sa.select(sa.func.count()).select_from(policy_publication).where(
                policy_publication.c.version == r.version,
                policy_publication.c.published_at >= r.decided_at)).scalar_one() > 0 for r in rows}
        for row in rows:
            proposal = Proposal.from_row(row)
            if published[proposal.id]:
                settled.append((self.complete(proposal.id), True))
            elif proposal.decided_at is not None and now - as_utc(proposal.decided_at) > stale_after:
                self.release(proposal.id)
                settled.append((proposal, False))
        return tuple(settled)

    def _move(self, proposal_id: int, by: str, decision: str, old: str, new: str, comment: str | None) -> Proposal:
        proposal = self.get(proposal_id)
        if proposal is None:
            raise LookupError(f"no proposal {proposal_id}")
        self.check_decision(proposal, by, decision)
        with self.engine.begin() as conn:
            done = conn.execute(policy_proposal.update()
                                .where(policy_proposal.c.id == proposal_id, policy_proposal.c.status == old)
                                .values(status=new, decided_at=datetime.now(UTC), decided_by=by,
                                        decision_comment=(comment or "").strip() or None)).rowcount
        if done != 1:
            raise ProposalError(f"proposal {proposal_id} was decided by someone else meanwhile")
        decided = self.get(proposal_id)
        assert decided is not None
        return decided
