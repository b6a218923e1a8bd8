"""add parcels.checksum, backfilled in batches that each commit, then NOT NULL: resumable

Every statement is idempotent and each batch commits on its own (autocommit block), so a run killed half-way
leaves the column and the batches done so far, and the next run continues with the rows still NULL. For the
rehearsal's timeout test, a *first* run (no row backfilled yet) sleeps after committing PAUSE_AFTER batches, far
longer than the test's timeout: the kill always lands there, after exactly PAUSE_AFTER * BATCH_SIZE rows.

Revision ID: 5e7a0000000a
Revises:
"""

import time

from alembic import op

revision = "5e7a0000000a"
down_revision = None  # re-parented onto the head of the history it is stacked on
branch_labels = None
depends_on = None

BATCH_SIZE = 50
PAUSE_AFTER = 2
PAUSE_SECONDS = 600
NEXT_BATCH_END = "SELECT max(id) FROM (SELECT id FROM parcels WHERE id > %(after)s ORDER BY id LIMIT %(size)s) AS b"
BACKFILL = "UPDATE parcels SET checksum = md5(id::text) WHERE checksum IS NULL AND id > %(after)s AND id <= %(until)s"


def _next_batch_end(bind, after):
    return bind.exec_driver_sql(NEXT_BATCH_END, {"after": after, "size": BATCH_SIZE}).scalar()


def upgrade():
    with op.get_context().autocommit_block():
        op.execute("ALTER TABLE parcels ADD COLUMN IF NOT EXISTS checksum text")
        bind, after, done = op.get_bind(), 0, 0
        resuming = bind.exec_driver_sql("SELECT EXISTS (SELECT FROM parcels WHERE checksum IS NOT NULL)").scalar()
        while (until := _next_batch_end(bind, after)) is not None:
            bind.exec_driver_sql(BACKFILL, {"after": after, "until": until})
            after, done = until, done + 1
            if not resuming and done == PAUSE_AFTER:
                time.sleep(PAUSE_SECONDS)  # committed so far: PAUSE_AFTER batches; the timeout ends the run here
        op.execute("ALTER TABLE parcels ALTER COLUMN checksum SET NOT NULL")


def downgrade():
    op.drop_column("parcels", "checksum")
