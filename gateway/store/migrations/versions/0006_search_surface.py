"""search surface: date ranges in the search index, and the index rebuilt for the new parameters

Patient name / family / given / birthdate / address-postalcode / phone / email /
general-practitioner, the R4 clinical date parameters (onset-date, recorded-date, ...) and the
directory types' names are indexed as search_token rows (gateway/store/search_params.py); this
migration adds the columns date rows need and rebuilds every current resource's rows.

Revision ID: 0006_search_surface
Revises: 0005_console_proposals
Create Date: 2026-11-30 06:00:00
"""
from alembic import op
import orjson
import sqlalchemy as sa


revision = '0006_search_surface'
down_revision = '0005_console_proposals'
branch_labels = None
depends_on = None
BATCH = 400  # keys per statement: well under SQLite's bound-parameter limit


def upgrade() -> None:
    with op.batch_alter_table('search_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('low', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('high', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_search_token_range', ['param', 'low'], unique=False)
    _reindex(op.get_bind())


def _reindex(conn: sa.Connection) -> None:
    """Every current resource's index rows, as the search table of this version defines them."""
    from gateway.store.resources import index_tokens

    meta = sa.MetaData()
    resource = sa.Table('resource', meta, autoload_with=conn)
    token = sa.Table('search_token', meta, autoload_with=conn)
    after = ('', '')
    while True:
        rows = conn.execute(
            sa.select(resource.c.resource_type, resource.c.id, resource.c.content)
            .where(resource.c.deleted.is_(False),
                   sa.tuple_(resource.c.resource_type, resource.c.id) > sa.tuple_(sa.literal(after[0]),
                                                                                  sa.literal(after[1])))
            .order_by(resource.c.resource_type, resource.c.id).limit(BATCH)).all()
        if not rows:
            return
        conn.execute(token.delete().where(sa.tuple_(token.c.resource_type, token.c.resource_id).in_(
            [(r.resource_type, r.id) for r in rows])))
        fresh = [row for r in rows for row in index_tokens(orjson.loads(r.content))]
        if fresh:
            conn.execute(token.insert(), fresh)
        after = (rows[-1].resource_type, rows[-1].id)


def downgrade() -> None:
    op.get_bind().execute(sa.text("DELETE FROM search_token WHERE low IS NOT NULL"))
    with op.batch_alter_table('search_token', schema=None) as batch_op:
        batch_op.drop_index('ix_search_token_range')
        batch_op.drop_column('high')
        batch_op.drop_column('low')
