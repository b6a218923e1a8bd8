"""rename widgets.url to widgets.link

Revision ID: e5f00d000005
Revises: d4f00d000004
"""

from alembic import op

revision = "e5f00d000005"
down_revision = "d4f00d000004"
branch_labels = None
depends_on = None


def upgrade():
    op.alter_column("widgets", "url", new_column_name="link")


def downgrade():
    op.alter_column("widgets", "link", new_column_name="url")
