"""record the statement and lock timeouts the revision's statements get

Revision ID: 7100dead0002
Revises: 7100dead0001
"""

from alembic import op

revision = "7100dead0002"
down_revision = "7100dead0001"
branch_labels = None
depends_on = None

RECORD = (
    "INSERT INTO timeouts_seen (seq, statement_timeout, lock_timeout) "
    "SELECT {seq}, current_setting('statement_timeout'), current_setting('lock_timeout')"
)


def upgrade():
    op.execute(RECORD.format(seq=1))
    op.execute("SET LOCAL lock_timeout = '2s'")  # a revision's own, tighter setting
    op.execute(RECORD.format(seq=2))


def downgrade():
    op.execute("DELETE FROM timeouts_seen")
