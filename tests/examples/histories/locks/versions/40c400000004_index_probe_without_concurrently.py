"""index probe by flag with a plain CREATE INDEX (SHARE: blocks writes while it builds)

Revision ID: 40c400000004
Revises: 30c400000003
"""

from alembic import op

revision = "40c400000004"
down_revision = "30c400000003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_probe_flag", "probe", ["flag"])


def downgrade():
    op.drop_index("ix_probe_flag", table_name="probe")
