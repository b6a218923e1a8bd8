"""create items and extras, with rows

Revision ID: da7a10550001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "da7a10550001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("link", sa.Text()),
        sa.Column("note", sa.Text()),
        sa.Column("price", sa.Numeric(10, 2)),
    )
    op.execute(
        "INSERT INTO items VALUES (1, 'https://a', 'first', 1.50), (2, 'https://b', NULL, 2.00), "
        "(3, NULL, 'third', NULL)"
    )
    op.create_table("extras", sa.Column("id", sa.Integer(), primary_key=True))
    op.execute("INSERT INTO extras VALUES (1), (2), (3), (4)")


def downgrade():
    op.drop_table("extras")
    op.drop_table("items")
