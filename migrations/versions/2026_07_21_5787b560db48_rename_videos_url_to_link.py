"""rename videos.url to videos.link

Matches the Atom feed's <link rel="alternate"> and the read API's field name. A rename is catalog-only;
the short lock_timeout keeps it from waiting behind long readers.

Revision ID: 5787b560db48
Revises: 2c040c47f57c
Create Date: 2026-07-21 14:08:49.661203

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "5787b560db48"
down_revision = "2c040c47f57c"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.alter_column("videos", "url", new_column_name="link")


def downgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    op.alter_column("videos", "link", new_column_name="url")
