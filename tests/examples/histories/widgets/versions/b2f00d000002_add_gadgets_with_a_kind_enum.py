"""add gadgets with a gadget_kind enum

Revision ID: b2f00d000002
Revises: a1f00d000001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "b2f00d000002"
down_revision = "a1f00d000001"
branch_labels = None
depends_on = None

gadget_kind = postgresql.ENUM("small", "large", name="gadget_kind", create_type=False)


def upgrade():
    gadget_kind.create(op.get_bind(), checkfirst=False)
    op.create_table(
        "gadgets",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("widget_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", gadget_kind, server_default="small", nullable=False),
        sa.ForeignKeyConstraint(
            ["widget_id"], ["widgets.id"], name=op.f("fk_gadgets_widget_id_widgets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gadgets")),
    )


def downgrade():
    op.drop_table("gadgets")
    gadget_kind.drop(op.get_bind(), checkfirst=False)
