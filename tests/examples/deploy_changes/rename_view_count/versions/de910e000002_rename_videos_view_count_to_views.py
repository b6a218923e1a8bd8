"""rename videos.view_count to views, written as alter_column (a fixture change on top of de910e000001)

Revision ID: de910e000002
Revises:
"""

from alembic import op

revision = "de910e000002"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.alter_column("videos", "view_count", new_column_name="views")


def downgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.alter_column("videos", "views", new_column_name="view_count")
