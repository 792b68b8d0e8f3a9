"""Shared fixtures. Storage tests run on SQLite and on PostgreSQL through the one `database_url` fixture.

PostgreSQL comes from QUESTLINE_TEST_DATABASE_URL (set by `make test`, which starts a server). Without it the
PostgreSQL variants are skipped locally with a reason, and fail under CI so that they are never skipped silently."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text

from questline.config import Settings, load_settings
from questline.runtime import Runtime
from questline.simulate import simulate
from questline.sources import service
from questline.sources.sync import sync

PG_URL = os.environ.get("QUESTLINE_TEST_DATABASE_URL")


@contextmanager
def database(kind: str, home: Path) -> Iterator[str]:
    """A database URL of `kind`: SQLite in `home`, or a throw-away schema of the test PostgreSQL server."""
    if kind == "sqlite":
        yield f"sqlite:///{home / 'questline.db'}"
        return
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("QUESTLINE_TEST_DATABASE_URL is not set: run the tests with `make test`")
        pytest.skip("no PostgreSQL: set QUESTLINE_TEST_DATABASE_URL or run `make test`")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session")
def databases() -> Callable[[str, Path], AbstractContextManager[str]]:
    """`database` for fixtures of a wider scope than `database_url`."""
    return database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def operators(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Simulated operators, ingested into a lake once per session and shape: `operators(subscribers, days, seed)`
    gives a directory with `feeds/` (raw files, `truth.json`) and `home/lake`."""
    built: dict[tuple[int, int, int], Path] = {}

    def build(subscribers: int, days: int, seed: int) -> Path:
        if (subscribers, days, seed) not in built:
            base = tmp_path_factory.mktemp(f"operator-{subscribers}x{days}")
            simulate(base / "feeds", subscribers=subscribers, days=days, seed=seed)
            rt = Runtime.open(load_settings(home=base / "home", timezone="Europe/London"))
            with rt.db.session() as session:
                for spec in service.load_document(base / "feeds" / "sources.yaml"):
                    service.save(session, spec)
            sync(rt)
            rt.db.engine.dispose()
            built[(subscribers, days, seed)] = base
        return built[(subscribers, days, seed)]

    return build


@pytest.fixture
def on_lake(database_url: str, tmp_path: Path) -> Iterator[Callable[[Path], Runtime]]:
    """`on_lake(operator)`: a runtime on an operator's lake with this test's own (empty) database."""
    opened: list[Runtime] = []

    def open_on(operator: Path) -> Runtime:
        settings = load_settings(
            home=tmp_path / "home", lake=operator / "home" / "lake", database_url=database_url, timezone="Europe/London"
        )
        opened.append(Runtime.open(settings))
        return opened[-1]

    yield open_on
    for rt in opened:
        rt.db.engine.dispose()


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
