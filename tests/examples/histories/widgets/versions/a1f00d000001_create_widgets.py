"""create widgets

Revision ID: a1f00d000001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "a1f00d000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "widgets",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_widgets")),
    )


def downgrade():
    op.drop_table("widgets")
