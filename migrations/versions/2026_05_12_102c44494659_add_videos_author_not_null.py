"""add videos.author, NOT NULL, without locking the table

Safe on a populated, busy table. Each step commits on its own (autocommit block) so no step holds the
ACCESS EXCLUSIVE lock of another step while rows are rewritten:

1. add the column nullable (catalog-only);
2. backfill in batches from the channel's title (what YouTube puts in <author><name>), falling back to the
   channel id for channels we never learnt a title for;
3. add CHECK (author IS NOT NULL) NOT VALID, then VALIDATE it (SHARE UPDATE EXCLUSIVE: reads and writes go on);
4. SET NOT NULL, which PostgreSQL >= 12 proves from the validated check without a scan, then drop the check.

Every statement is idempotent, so re-running after a failure half-way finishes the job.

Revision ID: 102c44494659
Revises: 8920ac17239f
Create Date: 2026-05-12 11:27:03.118642

"""

from alembic import context, op

# revision identifiers, used by Alembic.
revision = "102c44494659"
down_revision = "8920ac17239f"
branch_labels = None
depends_on = None

BATCH_SIZE = 20_000
CHECK_NAME = "ck_videos_author_not_null"

# Keyset batches over the primary key: each batch is one short transaction and an index range scan,
# so the run stays linear in the table size and never holds row locks for long.
NEXT_BATCH_END = "SELECT max(id) FROM (SELECT id FROM videos WHERE id > %(after)s ORDER BY id LIMIT %(size)s) AS batch"
BACKFILL = """
UPDATE videos AS v
   SET author = COALESCE(NULLIF(c.title, ''), v.channel_id)
  FROM channels AS c
 WHERE c.id = v.channel_id
   AND v.author IS NULL{batch}
"""
BATCH = "\n   AND v.id > %(after)s AND v.id <= %(until)s"


def upgrade():
    with op.get_context().autocommit_block():
        op.execute("SET lock_timeout = '1s'")
        op.execute("ALTER TABLE videos ADD COLUMN IF NOT EXISTS author VARCHAR(255)")
        if context.is_offline_mode():
            op.execute(BACKFILL.format(batch=""))
        else:
            bind, after = op.get_bind(), ""
            while (
                until := bind.exec_driver_sql(NEXT_BATCH_END, {"after": after, "size": BATCH_SIZE}).scalar()
            ) is not None:
                bind.exec_driver_sql(BACKFILL.format(batch=BATCH), {"after": after, "until": until})
                after = until
        op.execute(f"ALTER TABLE videos DROP CONSTRAINT IF EXISTS {CHECK_NAME}")
        op.execute(f"ALTER TABLE videos ADD CONSTRAINT {CHECK_NAME} CHECK (author IS NOT NULL) NOT VALID")
        op.execute(f"ALTER TABLE videos VALIDATE CONSTRAINT {CHECK_NAME}")
        op.execute("ALTER TABLE videos ALTER COLUMN author SET NOT NULL")
        op.execute(f"ALTER TABLE videos DROP CONSTRAINT IF EXISTS {CHECK_NAME}")
        op.execute("RESET lock_timeout")


def downgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.drop_column("videos", "author")
