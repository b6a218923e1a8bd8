"""rename things.name to things.title (renaming-column, both directions: accepted in the fixture allowlist)

Revision ID: 33a700000003
Revises: 22a700000002
"""

from alembic import op

revision = "33a700000003"
down_revision = "22a700000002"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.alter_column("things", "name", new_column_name="title")


def downgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.alter_column("things", "title", new_column_name="name")
