"""client assertion jti replay memory (SMART backend services)

Revision ID: 0004_client_assertion_jti
Revises: 0003_scale_policy_pub
Create Date: 2026-11-30 05:30:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = '0004_client_assertion_jti'
down_revision = '0003_scale_policy_pub'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('client_assertion_jti',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('client_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('client_assertion_jti', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_client_assertion_jti_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('client_assertion_jti', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_client_assertion_jti_expires_at'))
    op.drop_table('client_assertion_jti')
