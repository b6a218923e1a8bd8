"""add widgets.note

Revision ID: c3f00d000003
Revises: b2f00d000002
"""

import sqlalchemy as sa
from alembic import op

revision = "c3f00d000003"
down_revision = "b2f00d000002"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("widgets", sa.Column("note", sa.Text(), nullable=True))


def downgrade():
    op.drop_column("widgets", "note")
