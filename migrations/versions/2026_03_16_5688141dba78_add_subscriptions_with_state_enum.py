"""add subscriptions with a subscription_state enum

Tracks our WebSub subscription per channel so the callback only confirms what we asked for and leases
can be renewed before they lapse.

Revision ID: 5688141dba78
Revises: ff02c70d5caf
Create Date: 2026-03-16 15:02:07.226410

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "5688141dba78"
down_revision = "ff02c70d5caf"
branch_labels = None
depends_on = None

# The labels are frozen here on purpose: the model's enum may grow later, this revision must not.
subscription_state = postgresql.ENUM(
    "pending", "active", "denied", "unsubscribing", "unsubscribed", name="subscription_state", create_type=False
)


def upgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    subscription_state.create(op.get_bind(), checkfirst=False)
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("topic_url", sa.Text(), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=False),
        sa.Column("state", subscription_state, server_default="pending", nullable=False),
        sa.Column("lease_seconds", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("denied_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_subscriptions_channel_id_channels"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_subscriptions_channel_id")),
    )


def downgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.drop_table("subscriptions")
    subscription_state.drop(op.get_bind(), checkfirst=False)
