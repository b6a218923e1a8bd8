"""add things.hits as a 32-bit integer (prefer-bigint-over-int: accepted in the fixture allowlist)

Revision ID: 22a700000002
Revises: 11a700000001
"""

import sqlalchemy as sa
from alembic import op

revision = "22a700000002"
down_revision = "11a700000001"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.add_column("things", sa.Column("hits", sa.Integer(), nullable=True))


def downgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.drop_column("things", "hits")
