"""add probe.flag, then hold its ACCESS EXCLUSIVE lock for a known time (pg_sleep) before the commit

Revision ID: 20c400000002
Revises: 10c400000001
"""

import sqlalchemy as sa
from alembic import op

revision = "20c400000002"
down_revision = "10c400000001"
branch_labels = None
depends_on = None

SLEEP_SECONDS = 0.3


def upgrade():
    op.add_column("probe", sa.Column("flag", sa.Boolean(), nullable=True))
    op.execute(f"SELECT pg_sleep({SLEEP_SECONDS})")


def downgrade():
    op.drop_column("probe", "flag")
