"""add videos.fixture_view_count and videos.fixture_like_count (BAD: the downgrade forgets fixture_like_count)

Revision ID: bad0c0de0001
Revises: (the head of the history under test, set when the case is assembled)
"""

import sqlalchemy as sa
from alembic import op

revision = "bad0c0de0001"
down_revision = None  # re-parented onto the current head when the case is assembled
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("videos", sa.Column("fixture_view_count", sa.BigInteger(), nullable=True))
    op.add_column("videos", sa.Column("fixture_like_count", sa.BigInteger(), nullable=True))


def downgrade():
    op.drop_column("videos", "fixture_view_count")
