"""Regions: the operator's own map from location areas (or single cells) to region names, stored in the database.

A subscriber's region is that of their home cell (the feature `home_cell`): the cell's own row if the map has one,
else its location area's. A cell global id `MCC-MNC-LAC-CI` lies in the area `MCC-MNC-LAC`, its id without the last
part. Until the operator loads a map, every area is its own region, so boards scoped by region work from day one;
once a map is loaded, a home cell it does not cover has no region (counted by every scoring run)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from questline.kit.documents import load_document
from questline.kit.errors import ConfigError
from questline.kit.naming import refuse_repeats
from questline.models import Region

COLUMNS = ("location", "region")


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    location: str = Field(min_length=1, max_length=64, pattern=r"^\S+$")  # a location area or a cell id
    region: str = Field(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$")  # no blanks around the name


class RegionMap(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    regions: list[Row]

    @field_validator("regions")
    @classmethod
    def _unique_locations(cls, rows: list[Row]) -> list[Row]:
        refuse_repeats((r.location for r in rows), "location")
        return rows

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame([r.model_dump() for r in self.regions], schema=dict.fromkeys(COLUMNS, pl.String))


def parse(document: dict[str, Any]) -> RegionMap:
    """A map as the API takes it: `{"regions": [{"location": ..., "region": ...}, ...]}`."""
    return load_document(RegionMap, document)


def read_csv(path: Path) -> RegionMap:
    """A map from a CSV file with a `location,region` header; a bad row is named by its line in the file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", field="file") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(f"the header lacks {', '.join(missing)} (expected: location,region)", field=f"{path.name}")
    rows = [{c: row[c] for c in COLUMNS} for row in reader]
    try:
        return parse({"regions": rows})
    except ConfigError as exc:
        where = (exc.field or "").split(".")
        if len(where) == 3:  # regions.<index>.<column>: the file's line (the header is line 1)
            raise ConfigError(exc.message, field=f"{path.name} line {int(where[1]) + 2}, {where[2]}") from None
        raise


def replace(session: Session, regions: RegionMap) -> int:
    """Make `regions` the whole map (an empty one goes back to 'each area its own region')."""
    session.execute(delete(Region))
    session.add_all(Region(location=r.location, region=r.region) for r in regions.regions)
    return len(regions.regions)


def stored(session: Session) -> pl.DataFrame:
    rows = session.execute(select(Region.location, Region.region).order_by(Region.location)).all()
    return pl.DataFrame(rows, schema=dict.fromkeys(COLUMNS, pl.String), orient="row")


def area_of(cell: pl.Expr) -> pl.Expr:
    """The location area of a cell id: the id without its last `-` part (an id without one is its own area)."""
    return cell.str.replace(r"-[^-]*$", "")


def with_region(frame: pl.DataFrame, regions: pl.DataFrame) -> pl.DataFrame:
    """`frame` (with `home_cell`) plus `region`: the cell's own, else its area's; every area its own without a map."""
    area = area_of(pl.col("home_cell"))
    if regions.is_empty():
        return frame.with_columns(area.alias("region"))
    lookup = dict(zip(regions["location"], regions["region"], strict=True))
    by_cell = pl.col("home_cell").replace_strict(lookup, default=None, return_dtype=pl.String)
    return frame.with_columns(pl.coalesce(by_cell, area.replace_strict(lookup, default=None)).alias("region"))
