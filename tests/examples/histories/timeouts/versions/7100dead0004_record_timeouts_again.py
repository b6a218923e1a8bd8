"""record the timeouts again, one revision after 7100dead0002's SET LOCAL

Revision ID: 7100dead0004
Revises: 7100dead0003
"""

from alembic import op

revision = "7100dead0004"
down_revision = "7100dead0003"
branch_labels = None
depends_on = None


def upgrade():
    # 7100dead0002's SET LOCAL lock_timeout = '2s' ended with its transaction: this must not see it.
    op.execute(
        "INSERT INTO timeouts_seen (seq, statement_timeout, lock_timeout) "
        "SELECT 3, current_setting('statement_timeout'), current_setting('lock_timeout')"
    )


def downgrade():
    # A short lock_timeout of its own, as the template's: a session holding timeouts_seen makes it time out.
    op.execute("SET LOCAL lock_timeout = '500ms'")
    op.execute("DELETE FROM timeouts_seen WHERE seq = 3")
