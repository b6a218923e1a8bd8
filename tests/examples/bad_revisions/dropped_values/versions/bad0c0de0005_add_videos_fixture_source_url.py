"""add videos.fixture_source_url (the column the next revision renames)

Revision ID: bad0c0de0005
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "bad0c0de0005"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.add_column("videos", sa.Column("fixture_source_url", sa.Text(), nullable=True))


def downgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.drop_column("videos", "fixture_source_url")
