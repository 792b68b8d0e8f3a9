"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import questline.models  # noqa: F401  (registers the tables)
from questline.kit.db import Base
from questline.runtime import Runtime


def test_migrated_database_matches_the_models(rt: Runtime) -> None:
    with rt.db.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = [
            d
            for d in compare_metadata(context, Base.metadata)
            if d[0] != "remove_table" or d[1].name != "alembic_version"
        ]
    assert differences == []
