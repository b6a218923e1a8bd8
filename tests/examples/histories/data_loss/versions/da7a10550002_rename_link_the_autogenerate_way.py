"""rename items.link to watch_url as autogenerate writes it: an add and a drop

Revision ID: da7a10550002
Revises: da7a10550001
"""

import sqlalchemy as sa
from alembic import op

revision = "da7a10550002"
down_revision = "da7a10550001"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("items", sa.Column("watch_url", sa.Text(), nullable=True))
    op.drop_column("items", "link")


def downgrade():
    op.add_column("items", sa.Column("link", sa.TEXT(), autoincrement=False, nullable=True))
    op.drop_column("items", "watch_url")
