"""rename videos.deploy_probe_count to deploy_probe_views with alter_column (a fixture on top of de910e000001)

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
    op.alter_column("videos", "deploy_probe_count", new_column_name="deploy_probe_views")


def downgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.alter_column("videos", "deploy_probe_views", new_column_name="deploy_probe_count")
