"""move videos.fixture_watch_url to fixture_link by hand (add, copy, drop); the downgrade forgets to copy back

Revision ID: bad0c0de0007
Revises: bad0c0de0006
"""

import sqlalchemy as sa
from alembic import op

revision = "bad0c0de0007"
down_revision = "bad0c0de0006"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.add_column("videos", sa.Column("fixture_link", sa.Text(), nullable=True))
    op.execute("UPDATE videos SET fixture_link = fixture_watch_url")
    op.drop_column("videos", "fixture_watch_url")


def downgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.add_column("videos", sa.Column("fixture_watch_url", sa.Text(), nullable=True))
    op.drop_column("videos", "fixture_link")
