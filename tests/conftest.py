"""Shared fixtures. Storage tests run on SQLite and on PostgreSQL through the one `database_url` fixture.

PostgreSQL comes from QUESTLINE_TEST_DATABASE_URL (set by `make test`, which starts a server). Without it the
PostgreSQL variants are skipped locally with a reason, and fail under CI so that they are never skipped silently."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
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


CDR_SOURCES = {
    "sources": [
        {
            "name": "mediation",
            "kind": "cdr",
            "format": {"type": "csv", "delimiter": ";", "header": False, "columns": ["id", "a", "code", "ts", "dur"]},
            "location": {"files": "cdr/*.csv"},
            "mapping": {
                "subscriber_id": {"field": "a", "msisdn": {"country_code": "44"}},
                "event_time": {"field": "ts", "format": "%Y%m%d%H%M%S", "timezone": "Europe/London"},
                "event_type": {"field": "code", "lookup": {"MOC": "voice_call", "SMS": "sms"}},
                "value": {"by_type": {"voice_call": {"field": "dur", "unit": "s"}}},
                "natural_key": ["id"],
            },
        }
    ]
}
DAY1 = "1;07700900001;MOC;20261101100000;60\n2;07700900002;SMS;20261101230000;\n3;07700900003;BAD;20261101100000;1\n"
DAY2 = "4;07700900001;MOC;20261102080000;30\n5;broken\n"


@pytest.fixture
def cdr_feed(tmp_path: Path) -> Path:
    """A small mediation CDR source: two daily files (3 good records, 2 bad) and its `sources.yaml`."""
    (tmp_path / "cdr").mkdir()
    (tmp_path / "cdr" / "day1.csv").write_text(DAY1)
    (tmp_path / "cdr" / "day2.csv").write_text(DAY2)
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(CDR_SOURCES))
    return tmp_path
