"""add videos.deploy_probe_count, nullable (a fixture change, stacked on whatever head is)

Revision ID: de910e000001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "de910e000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.add_column("videos", sa.Column("deploy_probe_count", sa.BigInteger(), nullable=True))


def downgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.drop_column("videos", "deploy_probe_count")
