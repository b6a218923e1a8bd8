"""Fixture env.py: the project's env.py, but the models gained videos.view_count and nobody wrote a revision.

The project's own env.py reads the metadata from ``current_app.extensions["migrate"].db``; for the duration of
this run that attribute is swapped for a stand-in whose metadata is a copy of the real one plus the column.
"""

from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa
from flask import current_app

from yt_pubsub_handler import MIGRATIONS_DIR
from yt_pubsub_handler.extensions import db

drifted = sa.MetaData(naming_convention=db.metadata.naming_convention)
for table in db.metadata.tables.values():
    table.to_metadata(drifted)
drifted.tables["videos"].append_column(sa.Column("view_count", sa.BigInteger(), nullable=True))

real_env = Path(MIGRATIONS_DIR) / "env.py"
extension = current_app.extensions["migrate"]
real_db = extension.db
extension.db = SimpleNamespace(engine=real_db.engine, metadata=drifted)
try:
    exec(compile(real_env.read_text(), str(real_env), "exec"), {"__name__": "env", "__file__": str(real_env)})
finally:
    extension.db = real_db
