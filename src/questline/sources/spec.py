"""A source's configuration as a validated document. Sources are data, not code: this is the whole vocabulary."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from questline.events.schema import ATTRIBUTES
from questline.events.vocabulary import EVENT_TYPE_NAMES, UNIT_CONVERSIONS, SourceKind
from questline.kit.naming import refuse_repeats

NAME = r"^[a-z][a-z0-9_\-]{0,62}$"
Scalar = str | int | float | bool | None


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- formats -------------------------------------------------------------------------------------------------------


class CsvFormat(Spec):
    """Delimited text. With `header: false`, `columns` names the fields in order."""

    type: Literal["csv"] = "csv"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    header: bool = True
    columns: list[str] | None = None
    quote: str | None = '"'
    encoding: str = "utf8"

    @model_validator(mode="after")
    def _columns_when_headerless(self) -> CsvFormat:
        if not self.header and not self.columns:
            raise ValueError("columns: a CSV file without a header row needs its column list")
        return self


ASTERISK_COLUMNS = [
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata",
    "start", "answer", "end", "duration", "billsec", "disposition", "amaflags", "uniqueid", "userfield",
]  # fmt: skip


class AsteriskFormat(Spec):
    """Asterisk `cdr_csv` (Master.csv): no header; the column list is configurable for `cdr_custom` layouts."""

    type: Literal["asterisk_csv"] = "asterisk_csv"
    columns: list[str] = Field(default_factory=lambda: list(ASTERISK_COLUMNS))


class JsonLinesFormat(Spec):
    type: Literal["jsonl"] = "jsonl"


class ParquetFormat(Spec):
    type: Literal["parquet"] = "parquet"


class CloudEventsFormat(Spec):
    """CloudEvents 1.0 JSON: a file holding one event, a batch (JSON array), or one event per line."""

    type: Literal["cloudevents"] = "cloudevents"


class TmfFormat(Spec):
    """TM Forum Open API JSON resources (a JSON array of them, one object, or one per line)."""

    type: Literal["tmf635_usage", "tmf654_topup", "tmf629_customer"]


class BerFormat(Spec):
    """3GPP TS 32.298 charging data records, BER-encoded. Without `asn_schema` the standard 3GPP modules are used;
    with it, a vendor's own ASN.1 file (relative to the configuration file) and its `record_type`."""

    type: Literal["ber"] = "ber"
    asn_schema: str | None = None
    record_type: str = "GPRSRecord"
    file_header: Literal["auto", "ts32297", "none"] = "auto"


Format = Annotated[
    CsvFormat | AsteriskFormat | JsonLinesFormat | ParquetFormat | CloudEventsFormat | TmfFormat | BerFormat,
    Field(discriminator="type"),
]
# The union's tags, which error paths name but documents do not have (`sources.0.format.csv.delimiter`).
FORMAT_TYPES: tuple[str, ...] = tuple(
    tag for member in get_args(get_args(Format)[0]) for tag in get_args(member.model_fields["type"].annotation)
)


# ---- mapping -------------------------------------------------------------------------------------------------------


class MsisdnRule(Spec):
    """How national numbers become E.164: strip the international or national prefix, prepend the country code."""

    country_code: str = Field(pattern=r"^[1-9][0-9]{0,2}$")
    national_prefix: str = "0"
    international_prefix: str = "00"


class FieldSpec(Spec):
    """Where one output field comes from: exactly one of `field` (an input field; dotted paths reach into nested
    records, `list[name=x].value` picks from a list of name/value pairs, `list[0]` by position), `sum` (input
    fields added up; a `list[*].x` path adds up every element), `expr` (an SQL expression over top-level input
    fields) or `const`; then, in order: `lookup` (a code table), `unit` (converted to the event type's unit),
    `format`/`timezone` (timestamps), `msisdn` (E.164), and `default` when the result is null."""

    field: str | None = None
    sum: list[str] | None = None
    expr: str | None = None
    const: Scalar = None
    lookup: dict[str, Scalar] | None = None
    lookup_default: Scalar = None
    unit: str | None = None
    format: str | list[str] | None = None
    timezone: str | None = None
    msisdn: MsisdnRule | None = None
    default: Scalar = None

    @model_validator(mode="after")
    def _one_input(self) -> FieldSpec:
        given = [name for name in ("field", "sum", "expr", "const") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of field, sum, expr or const")
        if self.unit is not None and self.unit not in UNIT_CONVERSIONS:
            raise ValueError(f"unit: unknown unit {self.unit!r}; known: {', '.join(UNIT_CONVERSIONS)}")
        if self.timezone is not None:
            _check_zone(self.timezone)
        return self

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """A bare string means an input field: `subscriber_id: msisdn`."""
        return {"field": data} if isinstance(data, str) else data


class ValueSpec(Spec):
    """The event's value: one rule for every row, or one per event type (`by_type`) with `default` for the rest."""

    default: FieldSpec = FieldSpec(const=1)
    by_type: dict[str, FieldSpec] = Field(default_factory=dict)

    @field_validator("by_type")
    @classmethod
    def _known_types(cls, value: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        for name in value:
            if name not in EVENT_TYPE_NAMES:
                raise ValueError(f"unknown event type {name!r}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _single(cls, data: Any) -> Any:
        if isinstance(data, str) or (isinstance(data, dict) and data and not {"default", "by_type"} & data.keys()):
            return {"default": data}
        return data


class Mapping(Spec):
    subscriber_id: FieldSpec
    event_time: FieldSpec
    event_type: FieldSpec
    value: ValueSpec = ValueSpec()
    attributes: dict[str, FieldSpec] = Field(default_factory=dict)
    natural_key: list[str] = Field(default_factory=list, description="input fields that identify a record")
    filter: str | None = Field(default=None, description="SQL predicate; rows where it is false are skipped")
    pseudonymise: bool = False

    @field_validator("attributes")
    @classmethod
    def _known_attributes(cls, value: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        for name in value:
            if name not in ATTRIBUTES:
                raise ValueError(f"unknown attribute {name!r}; known: {', '.join(ATTRIBUTES)}")
        return value


# ---- the source ----------------------------------------------------------------------------------------------------


class Location(Spec):
    """Files matched by a glob (relative paths are relative to the configuration file), and/or HTTP push."""

    files: str | None = None
    http: bool = False

    @model_validator(mode="after")
    def _somewhere(self) -> Location:
        if self.files is None and not self.http:
            raise ValueError("give files (a path glob) or http: true")
        return self


class SourceSpec(Spec):
    name: str = Field(pattern=NAME)
    kind: SourceKind
    format: Format
    location: Location
    mapping: Mapping
    schedule: str = Field(default="15m", pattern=r"^[1-9][0-9]*(s|m|h|d)$", description="sync interval")
    enabled: bool = True
    description: str = ""

    def resolved(self, base: Path) -> SourceSpec:
        """Make relative file globs and schema paths absolute against the configuration file's folder."""
        changes: dict[str, Any] = {}
        if self.location.files and not Path(self.location.files).is_absolute():
            changes["location"] = self.location.model_copy(update={"files": str(base / self.location.files)})
        schema = self.format.asn_schema if isinstance(self.format, BerFormat) else None
        if schema and not Path(schema).is_absolute():
            changes["format"] = self.format.model_copy(update={"asn_schema": str(base / schema)})
        return self.model_copy(update=changes)

    @property
    def schedule_seconds(self) -> int:
        amount, unit = int(self.schedule[:-1]), self.schedule[-1]
        return amount * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


class SourcesDocument(Spec):
    sources: list[SourceSpec]

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, value: list[SourceSpec]) -> list[SourceSpec]:
        refuse_repeats((s.name for s in value), "source name")
        return value


def _check_zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def field_path(path: str) -> list[str]:
    """Split `a.b[name=x].c` into steps: ['a', 'b', '[name=x]', 'c']."""
    return [step for step in re.split(r"\.|(\[[^\]]*\])", path) if step]
