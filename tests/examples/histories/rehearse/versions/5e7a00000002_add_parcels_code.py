"""add parcels.code (catalog only, a brief ACCESS EXCLUSIVE)

Revision ID: 5e7a00000002
Revises: 5e7a00000001
"""

import sqlalchemy as sa
from alembic import op

revision = "5e7a00000002"
down_revision = "5e7a00000001"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.add_column("parcels", sa.Column("code", sa.Text(), nullable=True))


def downgrade():
    op.drop_column("parcels", "code")
