"""add gauges.reading (ACCESS EXCLUSIVE on gauges)

Revision ID: 7100dead0003
Revises: 7100dead0002
"""

import sqlalchemy as sa
from alembic import op

revision = "7100dead0003"
down_revision = "7100dead0002"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("gauges", sa.Column("reading", sa.Integer(), nullable=True))


def downgrade():
    op.drop_column("gauges", "reading")
