"""add videos.kind with a video_kind enum (BAD: the downgrade leaves the enum type behind)

Revision ID: bad0c0de0002
Revises: 5787b560db48
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "bad0c0de0002"
down_revision = "5787b560db48"
branch_labels = None
depends_on = None

video_kind = postgresql.ENUM("upload", "live", "short", name="video_kind", create_type=False)


def upgrade():
    video_kind.create(op.get_bind(), checkfirst=False)
    op.add_column("videos", sa.Column("kind", video_kind, nullable=True))


def downgrade():
    op.drop_column("videos", "kind")
