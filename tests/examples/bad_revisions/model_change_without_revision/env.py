"""Fixture env.py: the project's env.py, but the models gained videos.fixture_view_count and nobody wrote a revision.

A copy of the app's metadata plus the column is what a developer's edited models.py looks like to Alembic;
``run_project_env`` runs the project's env.py with it standing in for the app's models.
"""

import sqlalchemy as sa

from tests.support.fixture_history import run_project_env
from yt_pubsub_handler.extensions import db

drifted = sa.MetaData(naming_convention=db.metadata.naming_convention)
for table in db.metadata.tables.values():
    table.to_metadata(drifted)
drifted.tables["videos"].append_column(sa.Column("fixture_view_count", sa.BigInteger(), nullable=True))

run_project_env(drifted)
