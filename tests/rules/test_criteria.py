"""The criteria documents: what parses, what is refused (always naming the field and the reason), parameters."""

from __future__ import annotations

from typing import Any

import pytest

from questline.kit.errors import Invalid
from questline.rules.criteria import AllOf, AnyOf, Leaf, Steps, leaves, parameters, parse_criteria, resolve


def leaf(measure: str = "count", types: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    return {"events": {"types": types or ["recharge"]}, "measure": measure, **fields}


RECHARGE_50_IN_7_DAYS = leaf("sum", window={"kind": "rolling", "days": 7}, target=50)
STEPS = {
    "steps": [
        leaf("first", ["app_install"]),
        leaf("first", ["app_login"]),
        leaf("first", ["feature_used"]),
    ]
}


def test_a_leaf_parses_with_its_defaults() -> None:
    parsed = parse_criteria(RECHARGE_50_IN_7_DAYS)
    assert isinstance(parsed, Leaf)
    assert parsed.target == 50.0
    assert parsed.column == "value"  # sum reads value unless told otherwise
    assert parsed.window.kind == "rolling" and parsed.window.days == 7
    assert parse_criteria(leaf("count", target=3)).window.kind == "mission"
    assert parse_criteria(leaf("absence")).per == "event"
    assert parse_criteria(leaf("first")).target == 1.0


def test_composites_parse_recursively() -> None:
    parsed = parse_criteria({"all": [STEPS, {"any": [leaf(target=1), RECHARGE_50_IN_7_DAYS]}]})
    assert isinstance(parsed, AllOf)
    assert isinstance(parsed.all[0], Steps) and isinstance(parsed.all[1], AnyOf)
    assert [path for path, _ in leaves(parsed)] == [
        "criteria.all.0.steps.0",
        "criteria.all.0.steps.1",
        "criteria.all.0.steps.2",
        "criteria.all.1.any.0",
        "criteria.all.1.any.1",
    ]


def test_yaml_text_parses() -> None:
    text = """
    events: {types: [recharge], where: [{field: channel, op: in, value: [app, web]}]}
    measure: sum
    window: {kind: mission}
    target: 50
    """
    parsed = parse_criteria(text)
    assert isinstance(parsed, Leaf)
    assert parsed.events.where[0].value == ["app", "web"]


@pytest.mark.parametrize(
    "where",
    [
        {"field": "channel", "op": "eq", "value": "app"},
        {"field": "channel", "op": "ne", "value": "app"},
        {"field": "channel", "op": "not_in", "value": ["app"]},
        {"field": "roaming", "op": "eq", "value": True},
        {"field": "direction", "op": "in", "value": ["out"]},
        {"field": "value", "op": "ge", "value": 10},
        {"field": "value", "op": "lt", "value": 2.5},
        {"field": "product", "op": "is_null"},
        {"field": "product", "op": "not_null"},
        {"field": "product", "op": "eq", "value": "{product}"},
        {"field": "product", "op": "in", "value": "{products}"},
        {"field": "value", "op": "gt", "value": "{floor}"},
    ],
)
def test_every_predicate_form_parses(where: dict[str, Any]) -> None:
    parse_criteria({"events": {"types": ["recharge"], "where": [where]}, "measure": "count", "target": 1})


def bad_where(**predicate: Any) -> dict[str, Any]:
    return {"events": {"types": ["recharge"], "where": [predicate]}, "measure": "count", "target": 1}


INVALID = [
    # (document, field at fault, words of the reason)
    ("nonsense", "criteria", "a mapping"),
    ([1, 2], "criteria", "a mapping"),
    (leaf(types=["recharges"], target=1), "criteria.events.types.0", "unknown event type 'recharges'"),
    (leaf(types=["sms", "sms"], target=1), "criteria.events.types", "listed twice: sms"),
    ({"events": {"types": []}, "measure": "count", "target": 1}, "criteria.events.types", "at least 1"),
    ({"measure": "count", "target": 1}, "criteria.events", "required"),
    (leaf("counts", target=1), "criteria.measure", "'count', 'sum'"),
    (leaf(target=1, colour="red"), "criteria.colour", "not a field"),
    (leaf(), "criteria.target", "count needs a target"),
    (leaf(target=0), "criteria.target", "positive"),
    (leaf("sum", target=-5), "criteria.target", "positive"),
    (leaf("sum", target=float("inf")), "criteria.target", "positive"),
    (leaf(target="50"), "criteria.target", "parameter reference"),
    (leaf(target="{Bad Name}"), "criteria.target", "parameter reference"),
    (leaf(target=True), "criteria.target", "positive number"),
    (leaf(target=2.5), "criteria.target", "whole number"),
    (leaf("distinct_days", target=1.5), "criteria.target", "whole number"),
    (leaf("first", target=2), "criteria.target", "its target is 1"),
    (leaf("first", target="{n}"), "criteria.target", "its target is 1"),
    (leaf("absence", target=7), "criteria.target", "absence has no target"),
    (leaf("sum", field="channel", target=5), "criteria.field", "numeric column"),
    (leaf("distinct_values", target=3), "criteria.field", "needs the attribute"),
    (leaf("distinct_values", field="colour", target=3), "criteria.field", "unknown field 'colour'"),
    (leaf("count", field="feature", target=3), "criteria.field", "count reads no field"),
    (leaf("count", per="day", target=3), "criteria.per", "absence only"),
    (leaf("absence", per="week"), "criteria.per", "'event' or 'day'"),
    (leaf(target=1, window={"kind": "rolling"}), "criteria.window.days", "needs days"),
    (leaf(target=1, window={"kind": "weekly", "days": 7}), "criteria.window.days", "only a rolling window"),
    (leaf(target=1, window={"kind": "rolling", "days": 0}), "criteria.window.days", "greater than or equal to 1"),
    (leaf(target=1, window={"kind": "yearly"}), "criteria.window.kind", "'mission', 'rolling'"),
    (leaf("streak", target=3, window={"kind": "rolling", "days": 90}), "criteria.window.days", "at most 64"),
    (leaf("absence", per="day", window={"kind": "rolling", "days": 65}), "criteria.window.days", "at most 64"),
    (leaf("streak", target=8, window={"kind": "weekly"}), "criteria.target", "weekly window (7 days)"),
    (leaf("distinct_days", target=2, window={"kind": "daily"}), "criteria.target", "at most 1"),
    (leaf("streak", target=65), "criteria.target", "at most 64"),
    (bad_where(field="colour", op="eq", value="red"), "criteria.events.where.0.field", "unknown field 'colour'"),
    (bad_where(field="channel", op="like", value="a"), "criteria.events.where.0.op", "'eq', 'ne'"),
    (bad_where(field="channel", op="eq"), "criteria.events.where.0.value", "eq needs a value"),
    (bad_where(field="channel", op="is_null", value="x"), "criteria.events.where.0.value", "takes no value"),
    (bad_where(field="channel", op="in", value="app"), "criteria.events.where.0.value", "non-empty list"),
    (bad_where(field="channel", op="in", value=[]), "criteria.events.where.0.value", "non-empty list"),
    (bad_where(field="channel", op="eq", value=["a"]), "criteria.events.where.0.value", "not a list"),
    (bad_where(field="channel", op="in", value=["a", "{b}"]), "criteria.events.where.0.value.1", "whole list"),
    (bad_where(field="channel", op="gt", value=3), "criteria.events.where.0.op", "not a number"),
    (bad_where(field="channel", op="gt", value="{x}"), "criteria.events.where.0.op", "not a number"),
    (bad_where(field="channel", op="eq", value=3), "criteria.events.where.0.value", "is text"),
    (bad_where(field="roaming", op="eq", value="yes"), "criteria.events.where.0.value", "true or false"),
    (bad_where(field="value", op="ge", value="ten"), "criteria.events.where.0.value", "is a number"),
    (bad_where(field="value", op="eq", value=True), "criteria.events.where.0.value", "is a number"),
    (bad_where(field="direction", op="eq", value="up"), "criteria.events.where.0.value", "one of in, out"),
    ({"all": []}, "criteria.all", "at least 1"),
    ({"any": [leaf(target=1), leaf()]}, "criteria.any.1.target", "needs a target"),
    ({"all": [leaf(target=1)], "measure": "count"}, "criteria.measure", "not a field"),
    ({"steps": [leaf(target=1), {"all": [leaf(target=-1)]}]}, "criteria.steps.1.all.0.target", "positive"),
    ({"all": [STEPS, {"any": [leaf(types=["x"], target=1)]}]}, "criteria.all.1.any.0.events.types.0", "'x'"),
]


@pytest.mark.parametrize(("document", "field", "reason"), INVALID, ids=[f"{i}:{c[1]}" for i, c in enumerate(INVALID)])
def test_invalid_criteria_are_refused_naming_the_field_and_reason(document: object, field: str, reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_criteria(document)
    assert caught.value.field == field
    assert reason in caught.value.message
    assert caught.value.status_code == 422


def test_the_root_name_is_the_callers() -> None:
    with pytest.raises(Invalid) as caught:
        parse_criteria(leaf(), where="templates.0.criteria")
    assert caught.value.field == "templates.0.criteria.target"


def test_parameters_names_every_reference() -> None:
    document = {
        "all": [
            leaf("sum", target="{amount}"),
            {
                "events": {
                    "types": ["bundle_purchase"],
                    "where": [
                        {"field": "product", "op": "eq", "value": "{product}"},
                        {"field": "channel", "op": "eq", "value": "app"},
                    ],
                },
                "measure": "first",
            },
        ]
    }
    assert parameters(parse_criteria(document)) == {"amount", "product"}
    assert parameters(parse_criteria(RECHARGE_50_IN_7_DAYS)) == set()


def test_resolve_substitutes_the_given_parameters_and_keeps_the_others() -> None:
    document = {
        "steps": [
            {
                "events": {
                    "types": ["bundle_purchase"],
                    "where": [{"field": "product", "op": "in", "value": "{products}"}],
                },
                "measure": "first",
            },
            leaf("sum", target="{amount}"),
        ]
    }
    parsed = parse_criteria(document)
    partly = resolve(parsed, {"products": ["b1", "b2"]})
    assert parameters(partly) == {"amount"}
    assert isinstance(partly, Steps)
    first, second = partly.steps
    assert isinstance(first, Leaf) and first.events.where[0].value == ["b1", "b2"]
    assert isinstance(second, Leaf) and second.target == "{amount}"
    whole = resolve(partly, {"amount": 25, "unused": 1})
    assert parameters(whole) == set()
    assert isinstance(whole, Steps) and isinstance(whole.steps[1], Leaf) and whole.steps[1].target == 25.0
    assert resolve(parsed, {}) == parsed


def test_resolve_refuses_values_that_do_not_fit() -> None:
    parsed = parse_criteria({"all": [leaf(target=1), leaf(target="{times}")]})
    with pytest.raises(Invalid) as caught:
        resolve(parsed, {"times": 2.5})
    assert (caught.value.field, caught.value.message) == (
        "criteria.all.1.target",
        "count counts whole things: the target must be a whole number",
    )
    where = parse_criteria(bad_where(field="value", op="ge", value="{floor}"))
    with pytest.raises(Invalid) as caught:
        resolve(where, {"floor": "ten"})
    assert caught.value.field == "criteria.events.where.0.value"


def test_models_are_frozen_and_round_trip_through_json() -> None:
    parsed = parse_criteria({"all": [STEPS, RECHARGE_50_IN_7_DAYS, leaf("absence", per="day")]})
    assert isinstance(parsed, AllOf)
    assert parse_criteria(parsed.model_dump(mode="json", exclude_none=True)) == parsed
    with pytest.raises(Exception, match="frozen"):
        parsed.all[1].measure = "count"  # type: ignore[union-attr]
