"""move items.note to memo by hand: add, copy, drop (nothing lost), and back the same way

Revision ID: da7a10550003
Revises: da7a10550002
"""

import sqlalchemy as sa
from alembic import op

revision = "da7a10550003"
down_revision = "da7a10550002"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("items", sa.Column("memo", sa.Text(), nullable=True))
    op.execute("UPDATE items SET memo = note")
    op.drop_column("items", "note")


def downgrade():
    op.add_column("items", sa.Column("note", sa.Text(), nullable=True))
    op.execute("UPDATE items SET note = memo")
    op.drop_column("items", "memo")
