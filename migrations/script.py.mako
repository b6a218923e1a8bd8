"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
<%
    # What the revision needs imported, and the reviews autogenerate cannot do (README, "The daily workflow").
    import re

    up = upgrades or ""
    uses_sa = "sa." in up + (downgrades or "")
    created = set(re.findall(r"""op\.create_table\(\s*['"](\w+)['"]""", up))
    indexed = set(re.findall(r"""op\.create_index\(\s*[^,]+,\s*['"](\w+)['"]""", up))
    new_index = bool(indexed - created)
    new_enum_column = "op.add_column(" in up and "sa.Enum(" in up
    added = set(re.findall(r"""op\.add_column\(\s*['"](\w+)['"]""", up))
    dropped = re.findall(r"""op\.drop_column\(\s*['"](\w+)['"],\s*['"](\w+)['"]""", up)
    renames = sorted({(table, column) for table, column in dropped if table in added})
%>\
% if uses_sa:
import sqlalchemy as sa
% endif
from alembic import op
% if imports:
${imports}
% endif

# revision identifiers, used by Alembic.
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade():
    # While DDL waits for its lock, every query on the table waits behind it: 1 s bounds that stall, and the
    # migrator retries a step that times out, with backoff, while the invocation has time (migrations/policy.toml:
    # the lint refuses no lock_timeout, 0, or more than the ceiling). Through Lambda, every statement also ends a
    # margin before the function's timeout; a tighter SET here wins (e.g. SET statement_timeout = '30s' per batch
    # of a long backfill). Will it fit? `make rehearse`. What does the app see meanwhile? `make rehearse-deploy`.
    op.execute("SET LOCAL lock_timeout = '1s'")
% if new_index:
    # REVIEW: an index on a table that already has rows blocks its writes while it builds. Build it CONCURRENTLY,
    # outside the transaction, instead of the create_index below:
    #     with op.get_context().autocommit_block():
    #         op.execute("SET lock_timeout = '1s'")
    #         op.drop_index(NAME, table_name=TABLE, postgresql_concurrently=True, if_exists=True)
    #         op.create_index(NAME, TABLE, [COLUMNS], postgresql_concurrently=True, if_not_exists=True)
    #         op.execute("RESET lock_timeout")
    # (the drop removes what a failed concurrent build leaves behind, an INVALID index), and drop it the same way
    # in downgrade(). Then delete this comment.
% endif
% for table, column in renames:
    # REVIEW: this drops ${table}.${column} and adds a column to ${table}. Autogenerate cannot see renames: if this
    # is one, the values of ${column} are lost (data loss). Write instead:
    #     op.alter_column("${table}", "${column}", new_column_name=NEW_NAME)
    # (and the reverse in downgrade()), then delete the add_column/drop_column pair and this comment. If the drop
    # is intended, declare it in migrations/policy.toml ([[data_loss]], with the reason).
% endfor
% if new_enum_column:
    # REVIEW: add_column does not create a new enum type. Create it first, drop it in downgrade() after the column:
    #     sa.Enum(LABELS..., name=NAME).create(op.get_bind(), checkfirst=False)   /   sa.Enum(name=NAME).drop(...)
    # Then delete this comment.
% endif
    ${upgrades if upgrades else "pass"}


def downgrade():
    op.execute("SET LOCAL lock_timeout = '1s'")
    ${downgrades if downgrades else "pass"}
