"""Alembic environment: runs on the connection handed over by `questline.kit.db.migrate`."""

from alembic import context

import questline.models  # noqa: F401  (registers the tables)
from questline.kit.db import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
