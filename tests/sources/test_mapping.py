"""The mapping turns reader frames into normalized events, and every row it cannot use into a reject with a reason."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from questline.events.schema import EVENT_SCHEMA
from questline.kit.errors import ConfigError, Invalid
from questline.sources.formats.base import RawRecords, numbered
from questline.sources.mapping import normalize
from questline.sources.spec import SourceSpec

UTC = dt.UTC


def source(mapping: dict[str, Any], **extra: Any) -> SourceSpec:
    return SourceSpec.model_validate(
        {"name": "feed", "kind": "cdr", "format": {"type": "jsonl"}, "location": {"http": True}, "mapping": mapping}
        | extra
    )


BASE = {
    "subscriber_id": {"field": "msisdn", "msisdn": {"country_code": "44"}},
    "event_time": {"field": "ts", "format": "%Y%m%d%H%M%S", "timezone": "Europe/London"},
    "event_type": {"field": "code", "lookup": {"MOC": "voice_call", "SMS": "sms", "GPRS": "data_session"}},
    "value": {
        "by_type": {"voice_call": {"field": "dur", "unit": "min"}, "data_session": {"field": "kb", "unit": "kB"}}
    },
    "natural_key": ["id"],
}


def run(rows: list[dict[str, Any]], mapping: dict[str, Any] | None = None, **kw: Any) -> Any:
    frame = numbered(pl.DataFrame(rows, infer_schema_length=None))
    return normalize(RawRecords(frame), source(mapping or BASE), location="f", zone="UTC", **kw)


def row(**over: Any) -> dict[str, Any]:
    return {"id": "1", "msisdn": "07700900123", "ts": "20261103140500", "code": "MOC", "dur": "2", "kb": None} | over


def test_a_good_row_becomes_one_typed_event() -> None:
    result = run([row()])
    assert result.rejects.is_empty()
    event = result.events.row(0, named=True)
    assert result.events.schema == EVENT_SCHEMA
    assert event["subscriber_id"] == "+447700900123"
    assert event["event_time"] == dt.datetime(2026, 11, 3, 14, 5, tzinfo=UTC)  # London is UTC+0 in November
    assert (event["event_type"], event["value"], event["unit"], event["source_kind"]) == (
        "voice_call",
        120.0,
        "seconds",
        "cdr",
    )


def test_units_convert_per_event_type_and_default_is_one() -> None:
    result = run([row(code="GPRS", kb="2.5"), row(id="2", code="SMS")])
    assert result.events.get_column("value").to_list() == [2500.0, 1.0]
    assert result.events.get_column("unit").to_list() == ["bytes", "count"]


def test_summer_time_is_converted_from_the_source_zone() -> None:
    result = run([row(ts="20260701120000")])
    assert result.events.item(0, "event_time") == dt.datetime(2026, 7, 1, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (row(msisdn=None), "subscriber_id: missing (field 'msisdn' is empty)"),
        (row(msisdn="12"), "subscriber_id: cannot read '12' as a subscriber id"),
        (row(ts="20261399140500"), "event_time: cannot read '20261399140500' as a timestamp"),
        (row(ts="20260329013000"), "event_time: cannot read '20260329013000' as a timestamp"),  # DST gap
        (row(code="XYZ"), "event_type: unknown code 'XYZ'"),
        (row(dur="ten"), "value (voice_call): cannot read 'ten' as a number"),
        (row(dur="-3"), "value (voice_call): negative"),
        (row(dur=None), "value (voice_call): missing (field 'dur' is empty)"),
    ],
)
def test_a_bad_row_is_rejected_with_the_field_and_reason(bad: dict[str, Any], reason: str) -> None:
    result = run([row(id="0"), bad | {"id": "1"}])
    assert result.events.height == 1
    assert result.rejects.select("record", "reason").rows() == [(1, reason)]
    assert '"id":"1"' in result.rejects.item(0, "raw")


def test_reader_bad_records_join_the_rejects() -> None:
    frame = numbered(pl.DataFrame([row()]))
    bad = pl.DataFrame({"_record": [1], "raw": ["1;2"], "reason": ["expected 6 fields, found 2"]})
    result = normalize(RawRecords(frame, bad), source(BASE), location="cdr.csv", zone="UTC")
    assert result.rejects.select("source", "location", "record", "reason").rows() == [
        ("feed", "cdr.csv", 1, "expected 6 fields, found 2")
    ]


def test_filter_skips_rows_on_purpose_and_counts_them() -> None:
    result = run([row(), row(id="2", code="TEST")], BASE | {"filter": "code <> 'TEST'"})
    assert (result.events.height, result.rejects.height, result.filtered) == (1, 0, 1)


def test_event_id_comes_from_source_and_natural_key_only() -> None:
    first = run([row(dur="2")]).events.item(0, "event_id")
    assert run([row(dur="2")]).events.item(0, "event_id") == first
    assert run([row(dur="9")]).events.item(0, "event_id") == first  # same record id: the same event
    assert run([row(id="2")]).events.item(0, "event_id") != first


def test_without_natural_key_the_whole_record_is_the_key() -> None:
    mapping = {k: v for k, v in BASE.items() if k != "natural_key"}
    ids = run([row(), row(), row(dur="3")], mapping).events.get_column("event_id").to_list()
    assert ids[0] == ids[1] != ids[2]


def test_attributes_are_typed_and_unknown_codes_rejected() -> None:
    mapping = BASE | {
        "attributes": {
            "roaming": "roam",
            "direction": {"field": "code", "lookup": {"MOC": "out", "MTC": "in", "SMS": None}},
            "cell": "cell",
        }
    }
    result = run(
        [row(roam="Y", cell="C1"), row(id="2", code="SMS", roam="n", cell=None), row(id="3", roam="maybe")], mapping
    )
    assert result.events.select("roaming", "direction", "cell").rows() == [(True, "out", "C1"), (False, None, None)]
    assert result.rejects.get_column("reason").to_list() == ["roaming: cannot read 'maybe' as a boolean"]


def test_nested_paths_selectors_and_sums() -> None:
    records = [
        {
            "id": "u1",
            "party": [{"role": "agent", "id": "x"}, {"role": "customer", "id": "447700900123"}],
            "at": "2026-11-03T14:05:00+01:00",
            "chars": [{"name": "up", "value": 10}, {"name": "down", "value": 30}],
            "containers": [{"up": 1, "down": 2}, {"up": 3, "down": 4}],
        }
    ]
    mapping = {
        "subscriber_id": {"field": "party[role=customer].id", "msisdn": {"country_code": "44"}},
        "event_time": "at",
        "event_type": {"const": "data_session"},
        "value": {"sum": ["containers[*].up", "containers[*].down", "chars[name=up].value"], "unit": "kB"},
        "natural_key": ["id"],
    }
    event = run(records, mapping).events.row(0, named=True)
    assert event["subscriber_id"] == "+447700900123"
    assert event["event_time"] == dt.datetime(2026, 11, 3, 13, 5, tzinfo=UTC)
    assert event["value"] == 20_000.0


def test_missing_optional_json_fields_read_as_null() -> None:
    mapping = BASE | {"attributes": {"device": "handset.model"}}
    assert run([row()], mapping).events.item(0, "device") is None


def test_pseudonymisation_is_keyed_and_stable() -> None:
    mapping = BASE | {"pseudonymise": True}
    one = run([row()], mapping, secret="k1").events.item(0, "subscriber_id")
    assert one == run([row()], mapping, secret="k1").events.item(0, "subscriber_id")
    assert one != run([row()], mapping, secret="k2").events.item(0, "subscriber_id")
    assert "7700900123" not in one and len(one) == 64
    with pytest.raises(ConfigError):
        run([row()], mapping)


def test_unit_that_does_not_fit_the_event_type_is_refused() -> None:
    mapping = BASE | {"value": {"by_type": {"voice_call": {"field": "dur", "unit": "kB"}}}}
    with pytest.raises(Invalid, match="does not fit voice_call"):
        run([row()], mapping)


@given(
    number=st.from_regex(r"7[0-9]{9}", fullmatch=True),
    style=st.sampled_from(["0{n}", "+44{n}", "0044{n}", "44{n}", "+44 {n}", "0{n}".replace("0", "0 ")]),
)
def test_msisdn_notations_normalise_to_one_e164(number: str, style: str) -> None:
    result = run([row(msisdn=style.format(n=number))])
    assert result.events.item(0, "subscriber_id") == f"+44{number}"


@given(
    moment=st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 1, 1), timezones=st.just(UTC))
)
def test_iso_timestamps_with_offsets_round_trip(moment: dt.datetime) -> None:
    mapping = BASE | {"event_time": "ts"}
    result = run([row(ts=moment.isoformat())], mapping)
    assert result.events.item(0, "event_time") == moment
