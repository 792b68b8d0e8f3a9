"""Segments as data: the default rules, table-driven, and refused rules naming the field and the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from questline.kit.errors import ConfigError
from questline.scoring.config import load_segments
from questline.scoring.segments import assign, sizes

DEFAULTS = load_segments()
TYPICAL = {
    "engagement": 50.0, "revenue": 50.0, "loyalty": 50.0, "risk": 30.0, "digital": 50.0,
    "tenure_days": 800, "days_observed": 120, "recency_days": 1, "plan": "prepaid",
}  # fmt: skip

# (what the row is, its differences from a typical subscriber, the expected segment)
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("typical", {"engagement": 40.0}, "regular"),
    ("joined last month", {"tenure_days": 30}, "new"),
    ("first seen on the table's first day", {"tenure_days": 119, "engagement": 40.0}, "regular"),
    ("short history, everyone looks new", {"tenure_days": 40, "days_observed": 45, "engagement": 40.0}, "regular"),
    ("new and silent is still new", {"tenure_days": 30, "recency_days": 40}, "new"),
    ("silent for 30 days", {"recency_days": 30}, "dormant"),
    ("high risk score", {"risk": 70.0}, "at_risk"),
    ("model says leaving", {"churn_probability": 0.8}, "at_risk"),
    ("model says staying", {"churn_probability": 0.1, "engagement": 40.0}, "regular"),
    ("champion", {"engagement": 80.0, "revenue": 75.0, "loyalty": 60.0}, "champions"),
    ("champion at risk", {"engagement": 80.0, "revenue": 75.0, "loyalty": 60.0, "risk": 90.0}, "at_risk"),
    ("loyal", {"loyalty": 70.0, "revenue": 80.0, "engagement": 40.0}, "loyal"),
    ("engaged, spends little", {"engagement": 60.0, "revenue": 20.0}, "potential"),
    ("digital, spends little", {"engagement": 20.0, "digital": 90.0, "revenue": 20.0}, "potential"),
]


def _frame(rows: list[dict[str, Any]], with_churn: bool) -> pl.DataFrame:
    records = [{"subscriber_id": i, **TYPICAL, **row} for i, row in enumerate(rows)]
    if with_churn:
        for record in records:
            record.setdefault("churn_probability", None)
    return pl.DataFrame(records, schema_overrides={"churn_probability": pl.Float64} if with_churn else None)


@pytest.mark.parametrize(("case", "row", "expected"), CASES, ids=[c[0] for c in CASES])
def test_default_segments(case: str, row: dict[str, Any], expected: str) -> None:
    frame = _frame([row], with_churn=True)
    assert assign(frame, DEFAULTS).get_column("segment").to_list() == [expected]


def test_ml_columns_are_optional() -> None:
    rows = [row for _, row, _ in CASES if "churn_probability" not in row]
    expected = [segment for _, row, segment in CASES if "churn_probability" not in row]
    assert assign(_frame(rows, with_churn=False), DEFAULTS).get_column("segment").to_list() == expected


def test_sizes_cover_every_segment_in_order() -> None:
    assignment = assign(_frame([row for _, row, _ in CASES], with_churn=True), DEFAULTS)
    table = sizes(assignment, DEFAULTS)
    assert table.get_column("segment").to_list() == [
        "new", "dormant", "at_risk", "champions", "loyal", "potential", "regular",
    ]  # fmt: skip
    assert table.get_column("subscribers").sum() == len(CASES)
    assert table.get_column("share").sum() == pytest.approx(1)
    assert table.row(0, named=True) == {"segment": "new", "label": "New", "subscribers": 2, "share": 2 / len(CASES)}


def test_operators() -> None:
    frame = pl.DataFrame({"subscriber_id": [1, 2, 3, 4], "plan": ["a", "b", "c", None], "x": [1.0, 5.0, 9.0, None]})
    rules = [
        ({"field": "plan", "op": "in", "value": ["a", "c"]}, [True, False, True, False]),
        ({"field": "plan", "op": "!=", "value": "a"}, [False, True, True, False]),
        ({"field": "plan", "op": "==", "value": "b"}, [False, True, False, False]),
        ({"field": "x", "op": "between", "value": [1, 5]}, [True, True, False, False]),
        ({"field": "x", "op": ">", "value": 1}, [False, True, True, False]),
        ({"field": "x", "op": "<=", "value": 5}, [True, True, False, False]),
        ({"any": [{"field": "x", "op": "<", "value": 2}, {"field": "plan", "op": "==", "value": "c"}]}, None),
    ]
    for when, expected in rules:
        config = load_segments({"version": 1, "segments": [{"name": "hit", "label": "Hit", "when": when}],
                                "fallback": {"name": "miss", "label": "Miss"}})  # fmt: skip
        got = [s == "hit" for s in assign(frame, config).get_column("segment")]
        assert got == (expected or [True, False, True, False]), when


def _document(when: object) -> dict[str, Any]:
    return {
        "version": 1,
        "segments": [{"name": "s", "label": "S", "when": when}],
        "fallback": {"name": "f", "label": "F"},
    }


@pytest.mark.parametrize(
    ("when", "field", "reason"),
    [
        ({"field": "risk", "op": "~", "value": 1}, "segments.0.when.op", "Input should be"),
        ({"field": "plan", "op": "in", "value": "a"}, "segments.0.when", "non-empty list"),
        ({"field": "risk", "op": "between", "value": [9, 1]}, "segments.0.when", "low <= high"),
        ({"field": "risk", "op": ">=", "value": "high"}, "segments.0.when", "needs a number"),
        ({"all": []}, "segments.0.when.all", "at least 1"),
        (
            {"all": [{"any": [{"field": "Risk", "op": ">", "value": 1}]}]},
            "segments.0.when.all.0.any.0.field",
            "pattern",
        ),
    ],
)
def test_invalid_rules_are_refused(when: object, field: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_segments(_document(when))
    assert caught.value.field == field
    assert reason in caught.value.message


def test_duplicate_names_are_refused() -> None:
    doc = _document({"field": "risk", "op": ">", "value": 1}) | {"fallback": {"name": "s", "label": "Again"}}
    with pytest.raises(ConfigError, match="name used twice: s"):
        load_segments(doc)


@pytest.mark.parametrize(
    ("when", "field", "reason"),
    [
        ({"any": [{"field": "risk", "op": ">", "value": 1}, {"field": "nope", "op": ">", "value": 1}]},
         "segments.0.when.any.1.field", "unknown field 'nope'"),
        ({"field": "plan", "op": ">=", "value": 3}, "segments.0.when.value", "cannot compare"),
        ({"field": "risk", "op": "==", "value": "high"}, "segments.0.when.value", "cannot compare"),
        ({"field": "risk", "op": "<", "value": {"field": "ghost"}}, "segments.0.when.value.field", "unknown field"),
    ],
)  # fmt: skip
def test_rules_that_do_not_fit_the_table_are_refused(when: object, field: str, reason: str) -> None:
    frame = pl.DataFrame({"subscriber_id": [1], "risk": [50.0], "plan": ["a"]})
    with pytest.raises(ConfigError) as caught:
        assign(frame, load_segments(_document(when)))
    assert caught.value.field == field
    assert reason in caught.value.message


def test_the_default_segments_are_documented() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "scores.md").read_text()
    for segment in DEFAULTS.segments:
        assert f"| `{segment.name}` | {segment.label} |" in docs, segment.name
    assert f"| `{DEFAULTS.fallback.name}` | {DEFAULTS.fallback.label} |" in docs
