"""rename videos.fixture_source_url to fixture_watch_url, as autogenerate writes a rename: an add and a drop

Revision ID: bad0c0de0006
Revises: bad0c0de0005
"""

import sqlalchemy as sa
from alembic import op

revision = "bad0c0de0006"
down_revision = "bad0c0de0005"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.add_column("videos", sa.Column("fixture_watch_url", sa.Text(), nullable=True))
    op.drop_column("videos", "fixture_source_url")


def downgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.add_column("videos", sa.Column("fixture_source_url", sa.TEXT(), autoincrement=False, nullable=True))
    op.drop_column("videos", "fixture_watch_url")
