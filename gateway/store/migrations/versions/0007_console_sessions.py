"""console: server-side sessions (revocable on sign-out or by an IG officer; idle and absolute timeouts)

Revision ID: 0007_console_sessions
Revises: 0006_search_surface
Create Date: 2026-11-30 08:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_console_sessions'
down_revision = '0006_search_surface'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_session',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('role', sa.String(length=64), nullable=False),
    sa.Column('org', sa.String(length=32), nullable=False),
    sa.Column('patient', sa.String(length=32), nullable=True),
    sa.Column('csrf', sa.String(length=64), nullable=False),
    sa.Column('sign_in', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.Text(), nullable=True),
    sa.Column('revoked_reason', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('console_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_session_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('console_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_session_user_id'))
    op.drop_table('console_session')
