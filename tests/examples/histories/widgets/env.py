"""Fixture env.py: the project's env.py, run with this fixture history's own models (defined here).

The history in ``versions/`` builds exactly these tables, so ``migrator.check()`` passes at its head whatever
the app's models look like. Assembled by ``tests/core/conftest.py`` next to the project's alembic.ini.
"""

import sqlalchemy as sa

from tests.support.fixture_history import run_project_env
from yt_pubsub_handler.extensions import NAMING_CONVENTION

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
widgets = sa.Table(
    "widgets",
    metadata,
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("link", sa.Text(), nullable=True),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Index("ix_widgets_name", "name"),
)
sa.Table(
    "gadgets",
    metadata,
    sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
    sa.Column("widget_id", sa.BigInteger(), sa.ForeignKey("widgets.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.Enum("small", "large", name="gadget_kind"), server_default="small", nullable=False),
)

run_project_env(metadata)
