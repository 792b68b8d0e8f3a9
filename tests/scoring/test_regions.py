"""Regions: the operator's map (CSV, API, storage on both databases), a subscriber's region from their home cell, and
the `regions` commands as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from questline.api.keys import Scope, create
from questline.app import create_app
from questline.kit.errors import ConfigError
from questline.runtime import Runtime
from questline.scoring import regions

MAP = regions.parse(
    {
        "regions": [
            {"location": "234-15-1000", "region": "London"},
            {"location": "234-15-1001", "region": "Scotland"},
            {"location": "234-15-1001-20007", "region": "Wales"},  # one cell of an area mapped on its own
        ]
    }
).frame()


def region_of(*cells: str | None, mapping: pl.DataFrame = MAP) -> list[str | None]:
    frame = pl.DataFrame({"home_cell": list(cells)}, schema={"home_cell": pl.String})
    return regions.with_region(frame, mapping)["region"].to_list()


def test_a_cell_takes_its_own_region_else_its_areas() -> None:
    assert region_of("234-15-1000-10000", "234-15-1001-20000", "234-15-1001-20007") == ["London", "Scotland", "Wales"]


def test_outside_the_map_or_without_a_home_cell_there_is_no_region() -> None:
    assert region_of("234-15-1999-10000", None) == [None, None]


def test_without_a_map_each_area_is_its_own_region() -> None:
    empty = regions.RegionMap(regions=[]).frame()
    areas = region_of("234-15-1000-10000", "cell-7", "ECGI", None, mapping=empty)
    assert areas == ["234-15-1000", "cell", "ECGI", None]


@given(st.lists(st.from_regex(r"[0-9A-F]{1,5}", fullmatch=True), min_size=1, max_size=5))
def test_the_area_of_a_cell_is_its_id_without_the_last_part(parts: list[str]) -> None:
    area = pl.select(regions.area_of(pl.lit("-".join(parts)))).item()
    assert area == "-".join(parts[:-1] or parts)


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("location,region\n234-15-1,London\n234-15-2,\n", "regions.csv line 3, region", "at least 1 character"),
        ("location,region\n234 15,London\n", "regions.csv line 2, location", "should match pattern"),
        ("location,region\n234-15-1,London\n234-15-1,Wales\n", "regions", "location used twice: 234-15-1"),
        ("area,name\n234-15-1,London\n", "regions.csv", "the header lacks location, region"),
    ],
)
def test_a_bad_csv_names_the_line_and_the_field(tmp_path: Path, text: str, field: str, message: str) -> None:
    path = tmp_path / "regions.csv"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        regions.read_csv(path)
    assert caught.value.field == field and message in caught.value.message


def test_a_map_replaces_the_last_one(rt: Runtime, tmp_path: Path) -> None:
    (tmp_path / "first.csv").write_text("location,region\n234-15-1,London\n234-15-2,Wales\n")
    (tmp_path / "second.csv").write_text("\ufefflocation,region\n234-15-3,North East\n")  # Excel's byte-order mark
    for name in ("first.csv", "second.csv"):
        with rt.db.session() as session:
            regions.replace(session, regions.read_csv(tmp_path / name))
    with rt.db.session() as session:
        assert regions.stored(session).rows() == [("234-15-3", "North East")]


def test_the_api_reads_and_replaces_the_map(rt: Runtime) -> None:
    with rt.db.session() as session:
        admin = {"Authorization": f"Bearer {create(session, [Scope.ADMIN])}"}
        app = {"Authorization": f"Bearer {create(session, [Scope.APP])}"}
    with TestClient(create_app(rt)) as client:
        assert client.get("/v1/regions", headers=admin).json() == {"regions": []}
        body = {"regions": MAP.to_dicts()}
        assert client.put("/v1/regions", headers=admin, json=body).json() == {"regions": 3}
        assert client.get("/v1/regions", headers=admin).json() == body  # sorted by location
        bad = client.put("/v1/regions", headers=admin, json={"regions": [{"location": "x"}]})
        assert bad.status_code == 422 and bad.json()["field"] == "regions.0.region"
        assert client.put("/v1/regions", headers=app, json=body).status_code == 403


def test_the_commands_load_and_list_and_refuse_a_bad_file(tmp_path: Path) -> None:
    def questline(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUESTLINE_")}
        command = [sys.executable, "-m", "questline", "--home", str(tmp_path / "home"), "regions", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    (tmp_path / "good.csv").write_text("location,region\n234-15-1,London\n234-15-2,London\n234-15-3,Wales\n")
    (tmp_path / "bad.csv").write_text("location,region\n234-15-1,London\n,Wales\n")
    loaded = questline("load", str(tmp_path / "good.csv"))
    assert loaded.returncode == 0 and "loaded 3 locations in 2 regions" in loaded.stdout
    refused = questline("load", str(tmp_path / "bad.csv"))
    assert refused.returncode != 0 and refused.stderr.strip().count("\n") == 0
    assert "bad.csv line 3, location" in refused.stderr
    assert '"region": "Wales"' in questline("list", "--json").stdout  # the bad file changed nothing
