"""create things, with a varchar key (prefer-text-field is off for every revision in .squawk.toml)

Revision ID: 11a700000001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "11a700000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.create_table(
        "things",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
    )


def downgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.drop_table("things")
