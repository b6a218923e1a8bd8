"""index videos by title (BAD: a plain CREATE INDEX blocks every write to videos while it builds)

Revision ID: bad0c0de0004
Revises: (the head of the history under test, set when the case is assembled)
"""

from alembic import op

revision = "bad0c0de0004"
down_revision = None  # re-parented onto the current head when the case is assembled
branch_labels = None
depends_on = None


def upgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.create_index("ix_videos_fixture_title", "videos", ["title"])


def downgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.drop_index("ix_videos_fixture_title", table_name="videos")
