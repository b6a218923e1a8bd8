"""create probe, the table the other revisions lock

Revision ID: 10c400000001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "10c400000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "probe",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("label", sa.Text(), nullable=False),
    )


def downgrade():
    op.drop_table("probe")
