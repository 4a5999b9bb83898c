"""console: policy proposals for the two-person publication rule

Revision ID: 0005_console_proposals
Revises: 0004_client_assertion_jti
Create Date: 2026-11-30 06:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_console_proposals'
down_revision = '0004_client_assertion_jti'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('policy_proposal',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('version', sa.String(length=80), nullable=False),
    sa.Column('previous', sa.String(length=80), nullable=True),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('proposed_by', sa.Text(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('files', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.Text(), nullable=True),
    sa.Column('decision_comment', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('policy_proposal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policy_proposal_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('policy_proposal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_policy_proposal_status'))
    op.drop_table('policy_proposal')
