"""policy publication: the live policy version (and its files) in the database

Revision ID: 0003_scale_policy_pub
Revises: 0002_live_labels
Create Date: 2026-11-30 05:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_scale_policy_pub'
down_revision = '0002_live_labels'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('policy_publication',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('version', sa.String(length=80), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_by', sa.Text(), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('files', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('policy_publication', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policy_publication_version'), ['version'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('policy_publication', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_policy_publication_version'))
    op.drop_table('policy_publication')
