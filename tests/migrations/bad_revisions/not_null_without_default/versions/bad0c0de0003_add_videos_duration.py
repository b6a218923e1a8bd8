"""add videos.duration_seconds NOT NULL (BAD: no default, no backfill, and the table has rows)

Revision ID: bad0c0de0003
Revises: 5787b560db48
"""

import sqlalchemy as sa
from alembic import op

revision = "bad0c0de0003"
down_revision = "5787b560db48"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("videos", sa.Column("duration_seconds", sa.Integer(), nullable=False))


def downgrade():
    op.drop_column("videos", "duration_seconds")
