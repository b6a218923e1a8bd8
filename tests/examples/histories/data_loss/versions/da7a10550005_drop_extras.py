"""drop the extras table and its rows

Revision ID: da7a10550005
Revises: da7a10550004
"""

import sqlalchemy as sa
from alembic import op

revision = "da7a10550005"
down_revision = "da7a10550004"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_table("extras")


def downgrade():
    op.create_table("extras", sa.Column("id", sa.Integer(), primary_key=True))
