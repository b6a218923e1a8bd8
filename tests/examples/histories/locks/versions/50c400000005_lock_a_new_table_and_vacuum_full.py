"""create fresh and lock it (blocks nobody: it is new), then VACUUM FULL probe outside a transaction

Revision ID: 50c400000005
Revises: 40c400000004
"""

import sqlalchemy as sa
from alembic import op

revision = "50c400000005"
down_revision = "40c400000004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("fresh", sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True))
    op.execute("LOCK TABLE fresh IN ACCESS EXCLUSIVE MODE")
    with op.get_context().autocommit_block():
        op.execute("VACUUM FULL probe")


def downgrade():
    op.drop_table("fresh")
