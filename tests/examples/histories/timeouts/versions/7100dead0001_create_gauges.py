"""create gauges and timeouts_seen

Revision ID: 7100dead0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "7100dead0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("gauges", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("name", sa.Text()))
    op.execute("INSERT INTO gauges (name) VALUES ('pressure'), ('depth')")
    op.create_table(
        "timeouts_seen",
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("statement_timeout", sa.Text(), nullable=False),
        sa.Column("lock_timeout", sa.Text(), nullable=False),
    )


def downgrade():
    op.drop_table("timeouts_seen")
    op.drop_table("gauges")
