"""add gauges.note under a short lock_timeout, as the revision template writes it

Revision ID: 7100dead0005
Revises: 7100dead0004
"""

import sqlalchemy as sa
from alembic import op

revision = "7100dead0005"
down_revision = "7100dead0004"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("SET LOCAL lock_timeout = '500ms'")
    op.add_column("gauges", sa.Column("note", sa.Text(), nullable=True))


def downgrade():
    op.execute("SET LOCAL lock_timeout = '500ms'")
    op.drop_column("gauges", "note")
