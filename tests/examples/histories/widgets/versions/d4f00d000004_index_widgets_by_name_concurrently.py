"""index widgets by name, built CONCURRENTLY

Revision ID: d4f00d000004
Revises: c3f00d000003
"""

from alembic import op

revision = "d4f00d000004"
down_revision = "c3f00d000003"
branch_labels = None
depends_on = None


def upgrade():
    with op.get_context().autocommit_block():
        op.create_index("ix_widgets_name", "widgets", ["name"], postgresql_concurrently=True)


def downgrade():
    with op.get_context().autocommit_block():
        op.drop_index("ix_widgets_name", table_name="widgets", postgresql_concurrently=True)
