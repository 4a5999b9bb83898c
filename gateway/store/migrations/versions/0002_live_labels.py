"""labels follow the live policy: the adapter's section hint and the version stored labels were made under

Revision ID: 0002_live_labels
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_live_labels'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.add_column(sa.Column('labels_version', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('label_section', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.drop_column('label_section')
        batch_op.drop_column('labels_version')
