"""backfill parcels.code in batches, one commit each

Revision ID: 5e7a00000003
Revises: 5e7a00000002
"""

from alembic import op

revision = "5e7a00000003"
down_revision = "5e7a00000002"
branch_labels = None
depends_on = None

BATCH_SIZE = 100
NEXT_BATCH_END = "SELECT max(id) FROM (SELECT id FROM parcels WHERE id > %(after)s ORDER BY id LIMIT %(size)s) AS b"
BACKFILL = "UPDATE parcels SET code = 'P-' || id WHERE code IS NULL AND id > %(after)s AND id <= %(until)s"


def _next_batch_end(bind, after):
    return bind.exec_driver_sql(NEXT_BATCH_END, {"after": after, "size": BATCH_SIZE}).scalar()


def upgrade():
    with op.get_context().autocommit_block():
        bind, after = op.get_bind(), 0
        while (until := _next_batch_end(bind, after)) is not None:
            bind.exec_driver_sql(BACKFILL, {"after": after, "until": until})
            after = until


def downgrade():
    op.execute("UPDATE parcels SET code = NULL")
