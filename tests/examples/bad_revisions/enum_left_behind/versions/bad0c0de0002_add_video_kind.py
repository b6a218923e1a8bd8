"""add videos.fixture_kind with a fixture_video_kind enum (BAD: the downgrade leaves the enum type behind)

Revision ID: bad0c0de0002
Revises: (the head of the history under test, set when the case is assembled)
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "bad0c0de0002"
down_revision = None  # re-parented onto the current head when the case is assembled
branch_labels = None
depends_on = None

video_kind = postgresql.ENUM("upload", "live", "short", name="fixture_video_kind", create_type=False)


def upgrade():
    video_kind.create(op.get_bind(), checkfirst=False)
    op.add_column("videos", sa.Column("fixture_kind", video_kind, nullable=True))


def downgrade():
    op.drop_column("videos", "fixture_kind")
