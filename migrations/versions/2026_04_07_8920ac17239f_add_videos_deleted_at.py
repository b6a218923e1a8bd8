"""add videos.deleted_at for at:deleted-entry tombstones

Deleted videos are kept (and marked) rather than removed, so a late update notification cannot
resurrect them and the read API can say when they went away.

Revision ID: 8920ac17239f
Revises: 5688141dba78
Create Date: 2026-04-07 09:41:55.870312

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "8920ac17239f"
down_revision = "5688141dba78"
branch_labels = None
depends_on = None


def upgrade():
    # Nullable, no default: a catalog-only change, the table is not rewritten.
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.add_column("videos", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.drop_column("videos", "deleted_at")
