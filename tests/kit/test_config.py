from pathlib import Path

import pytest

from questline.config import load_settings
from questline.kit.errors import ConfigError


def test_defaults_derive_database_and_lake_from_home(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOME", "DATABASE_URL", "LAKE", "TIMEZONE"):
        monkeypatch.delenv(f"QUESTLINE_{name}", raising=False)
    settings = load_settings(home=Path("/data/ql"))
    assert settings.db_url == "sqlite:////data/ql/questline.db"
    assert settings.lake_path == Path("/data/ql/lake")
    assert settings.timezone == "UTC"


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUESTLINE_TIMEZONE", "Africa/Lagos")
    monkeypatch.setenv("QUESTLINE_LAKE", "/mnt/lake")
    settings = load_settings()
    assert settings.timezone == "Africa/Lagos"
    assert settings.lake_path == Path("/mnt/lake")


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("QUESTLINE_TIMEZONE", "Mars/Olympus", "QUESTLINE_TIMEZONE"),
        ("QUESTLINE_DATABASE_URL", "mysql://x", "QUESTLINE_DATABASE_URL"),
        ("QUESTLINE_MAX_REQUEST_BYTES", "-1", "QUESTLINE_MAX_REQUEST_BYTES"),
    ],
)
def test_bad_setting_fails_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert named in message
    assert "\n" not in message
