"""Shared fixtures. Storage tests run on SQLite and on PostgreSQL through the one `database_url` fixture.

PostgreSQL comes from QUESTLINE_TEST_DATABASE_URL (set by `make test`, which starts a server). Without it the
PostgreSQL variants are skipped locally with a reason, and fail under CI so that they are never skipped silently."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from questline.config import Settings, load_settings
from questline.runtime import Runtime

PG_URL = os.environ.get("QUESTLINE_TEST_DATABASE_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'questline.db'}"
        return
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("QUESTLINE_TEST_DATABASE_URL is not set: run the tests with `make test`")
        pytest.skip("no PostgreSQL: set QUESTLINE_TEST_DATABASE_URL or run `make test`")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with admin.connect() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(home=tmp_path / "home", database_url=database_url, timezone="Europe/London")


@pytest.fixture
def rt(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.open(settings)
    yield runtime
    runtime.db.engine.dispose()
