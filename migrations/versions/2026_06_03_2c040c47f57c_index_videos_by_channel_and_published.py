"""index videos by (channel_id, published_at), built CONCURRENTLY

Serves GET /channels/<id>/videos (newest first) and the FK lookups on channel_id. CONCURRENTLY cannot run
inside a transaction, hence the autocommit block; lock_timeout keeps the build from queueing behind a long
transaction while everyone else queues behind it. A failed concurrent build leaves an INVALID index behind,
so the upgrade drops any leftover first.

Revision ID: 2c040c47f57c
Revises: 102c44494659
Create Date: 2026-06-03 16:45:12.004417

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "2c040c47f57c"
down_revision = "102c44494659"
branch_labels = None
depends_on = None

INDEX = "ix_videos_channel_id_published_at"


def upgrade():
    with op.get_context().autocommit_block():
        op.execute("SET lock_timeout = '1s'")
        op.drop_index(INDEX, table_name="videos", postgresql_concurrently=True, if_exists=True)
        op.create_index(INDEX, "videos", ["channel_id", "published_at"], postgresql_concurrently=True)
        op.execute("RESET lock_timeout")


def downgrade():
    with op.get_context().autocommit_block():
        op.execute("SET lock_timeout = '1s'")
        op.drop_index(INDEX, table_name="videos", postgresql_concurrently=True, if_exists=True)
        op.execute("RESET lock_timeout")
