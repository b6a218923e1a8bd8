"""add videos.fixture_duration_seconds NOT NULL (BAD: no default, no backfill, and the table has rows)

Revision ID: bad0c0de0003
Revises: (the head of the history under test, set when the case is assembled)
"""

import sqlalchemy as sa
from alembic import op

revision = "bad0c0de0003"
down_revision = None  # re-parented onto the current head when the case is assembled
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("videos", sa.Column("fixture_duration_seconds", sa.Integer(), nullable=False))


def downgrade():
    op.drop_column("videos", "fixture_duration_seconds")
