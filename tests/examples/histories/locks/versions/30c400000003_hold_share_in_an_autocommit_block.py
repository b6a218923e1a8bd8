"""in an autocommit block: one statement holding SHARE for a known time, and an index built CONCURRENTLY

Revision ID: 30c400000003
Revises: 20c400000002
"""

from alembic import op

revision = "30c400000003"
down_revision = "20c400000002"
branch_labels = None
depends_on = None

SLEEP_SECONDS = 0.3


def upgrade():
    with op.get_context().autocommit_block():
        op.execute(f"DO $$ BEGIN LOCK TABLE probe IN SHARE MODE; PERFORM pg_sleep({SLEEP_SECONDS}); END $$")
        op.create_index("ix_probe_label", "probe", ["label"], postgresql_concurrently=True)


def downgrade():
    with op.get_context().autocommit_block():
        op.drop_index("ix_probe_label", table_name="probe", postgresql_concurrently=True)
