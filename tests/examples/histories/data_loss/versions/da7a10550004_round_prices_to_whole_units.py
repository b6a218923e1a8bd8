"""narrow items.price to whole units (1.50 becomes 2)

Revision ID: da7a10550004
Revises: da7a10550003
"""

import sqlalchemy as sa
from alembic import op

revision = "da7a10550004"
down_revision = "da7a10550003"
branch_labels = None
depends_on = None


def upgrade():
    op.alter_column("items", "price", type_=sa.Numeric(10, 0), existing_type=sa.Numeric(10, 2))


def downgrade():
    op.alter_column("items", "price", type_=sa.Numeric(10, 2), existing_type=sa.Numeric(10, 0))
