"""create parcels

Revision ID: 5e7a00000001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "5e7a00000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "parcels",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(40), nullable=True),
    )


def downgrade():
    op.drop_table("parcels")
