"""TM Forum resource reader: file shapes, row shapes, characteristic values, required fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from questline.sources.formats import read, tmf
from questline.sources.formats.base import RawRecords
from questline.sources.spec import TmfFormat

FIXTURES = Path(__file__).parent.parent / "fixtures" / "tmf"
USAGE = TmfFormat(type="tmf635_usage")
TOPUP = TmfFormat(type="tmf654_topup")
CUSTOMER = TmfFormat(type="tmf629_customer")
PAIRS = pl.List(pl.Struct({"name": pl.String, "value": pl.String}))


def read_usage(text: str) -> RawRecords:
    return tmf.read(text.encode(), USAGE)


# ---- golden files --------------------------------------------------------------------------------------------------


def test_usage_array() -> None:
    records = read(FIXTURES / "usage.json", USAGE)
    assert records.frame.columns == [
        "_record",
        "id",
        "href",
        "usageDate",
        "description",
        "usageType",
        "status",
        "usageSpecification",
        "relatedParty",
        "usageCharacteristic",
        "ratedProductUsage",
        "@type",
    ]
    frame = records.frame
    assert frame.select("_record", "id", "usageDate", "usageType").rows() == [
        (0, "usg-0001", "2024-03-01T08:15:30Z", "VOICE"),
        (1, "usg-0002", "2024-03-01T09:02:11Z", "DATA"),
        (2, "usg-0003", "2024-03-01T09:30:00Z", "SMS"),
    ]
    assert frame["description"][1] == 'Mobile data session, with "quotes", [brackets] and {braces}'
    assert frame["usageCharacteristic"].to_list()[0] == [
        {"id": "c1", "name": "duration", "valueType": "integer", "value": "125"},
        {"id": "c2", "name": "roaming", "valueType": "boolean", "value": "false"},
        {"id": "c3", "name": "calledNumber", "valueType": "string", "value": "33698765432"},
    ]
    assert frame["relatedParty"].to_list()[1][1] == {
        "id": "net-7",
        "name": None,
        "role": "network",
        "@referredType": "Organization",
    }
    assert frame["ratedProductUsage"].to_list()[0][0]["taxIncludedAmount"] == {"unit": "EUR", "value": 0.25}
    assert frame["usageSpecification"].struct.field("name").to_list() == ["Voice usage", None, None]
    assert records.bad["_record"].to_list() == [3]
    assert records.bad["reason"].to_list() == ["required field usageDate is missing"]
    assert json.loads(records.bad["raw"][0])["id"] == "usg-0004"


def test_topup_lines() -> None:
    records = read(FIXTURES / "topup.jsonl", TOPUP)
    assert records.frame.columns == [
        "_record",
        "id",
        "href",
        "description",
        "amount",
        "isAutoTopup",
        "usageType",
        "status",
        "channel",
        "logicalResource",
        "relatedParty",
        "voucher",
        "requestedDate",
        "confirmationDate",
        "numberOfPeriods",
        "recurringPeriod",
        "paymentMethod",
    ]
    frame = records.frame
    assert frame.select("_record", "id").rows() == [(0, "tpu-100"), (1, "tpu-101"), (2, "tpu-102"), (5, None)]
    assert frame["amount"].to_list() == [
        {"amount": 10.0, "units": "EUR"},
        {"amount": 25.5, "units": "EUR"},
        {"amount": 500.0, "units": "MB"},
        {"amount": 15.0, "units": "EUR"},
    ]
    assert frame["channel"].struct.field("name").to_list() == ["USSD", "WEB", "APP", "WEB"]
    assert frame["logicalResource"].struct.field("value").to_list()[:3] == ["33612345678", "33687654321", "33612345678"]
    assert records.bad["_record"].to_list() == [3, 4]
    assert records.bad["reason"][0] == "required field amount.units is missing"
    assert records.bad["reason"][1].startswith("invalid JSON: ")


def test_customer_single_resource() -> None:
    records = read(FIXTURES / "customer.json", CUSTOMER)
    assert records.frame.columns == [
        "_record",
        "@type",
        "href",
        "id",
        "name",
        "status",
        "statusReason",
        "validFor",
        "engagedParty",
        "account",
        "contactMedium",
        "characteristic",
        "creditProfile",
        "relatedParty",
    ]
    customer = records.frame.row(0, named=True)
    assert (customer["_record"], customer["id"], customer["name"]) == (0, "cust-1", "Alice Martin")
    assert [(c["name"], c["value"]) for c in customer["characteristic"]] == [
        ("segment", "youth"),
        ("birthYear", "1999"),
        ("marketingOptIn", "true"),
    ]
    phone = customer["contactMedium"][0]["characteristic"]
    assert (phone["contactType"], phone["phoneNumber"], phone["emailAddress"]) == ("mobile", "+33612345678", None)
    assert records.bad.is_empty()


def test_customer_array() -> None:
    records = read(FIXTURES / "customers.json", CUSTOMER)
    assert records.frame.columns == ["_record", "@type", "id", "name", "status", "engagedParty", "characteristic"]
    assert records.frame.select("_record", "id", "name").rows() == [
        (0, "cust-1", "Alice Martin"),
        (1, "cust-2", 'Bob "The Builder" Durand'),
    ]
    assert records.frame["characteristic"].to_list()[1][1]["value"] == "3"
    assert records.bad.select("_record", "reason").rows() == [(2, "required field name is missing")]


# ---- file shapes ---------------------------------------------------------------------------------------------------


def shapes(resources: list[Any]) -> dict[str, str]:
    return {
        "compact array": json.dumps(resources),
        "pretty array": json.dumps(resources, indent=2),
        "lines": "\n".join(json.dumps(resource) for resource in resources),
    }


def test_every_shape_reads_the_same() -> None:
    resources = json.loads((FIXTURES / "usage.json").read_text())
    results = [read_usage(text) for text in shapes(resources).values()]
    for result in results[1:]:
        assert result.frame.equals(results[0].frame)
        assert result.bad.drop("raw").equals(results[0].bad.drop("raw"))


def test_one_line_and_pretty_single_resource() -> None:
    resource = {"id": "u1", "usageDate": "2024-03-01T00:00:00Z", "relatedParty": [{"id": "1", "role": "customer"}]}
    for text in (json.dumps(resource), json.dumps(resource, indent=4)):
        assert read_usage(text).frame.select("_record", "id").rows() == [(0, "u1")]


def test_resources_that_are_not_objects() -> None:
    records = read_usage('[{"id": "u1", "usageDate": "d"}, 5, null, {"id": "u2", "usageDate": "d"}]')
    assert records.frame.select("_record", "id").rows() == [(0, "u1"), (3, "u2")]
    assert records.bad.select("_record", "reason").rows() == [
        (1, "not a JSON object but a number"),
        (2, "not a JSON object but null"),
    ]


def test_truncated_array_keeps_the_complete_resources() -> None:
    records = read_usage('[{"id": "u1", "usageDate": "d"}, {"id": "u2", "usageDate": "d"}, {"id": "u3", "usa')
    assert records.frame["id"].to_list() == ["u1", "u2"]
    assert records.bad["_record"].to_list() == [2]
    assert records.bad["reason"][0].startswith("invalid JSON: ")


def test_unreadable_single_resource_is_one_bad_record() -> None:
    records = read_usage('{\n  "id": "u1",\n  "usageDate": \n}\n')
    assert records.frame.is_empty()
    assert records.bad["_record"].to_list() == [0]


def test_empty_files() -> None:
    for text in ("", "[]", "  \n"):
        records = read_usage(text)
        assert records.frame.columns == ["_record"]
        assert records.frame.is_empty() and records.bad.is_empty()


nasty_text = st.text(st.sampled_from(list('ab"\\,[]{}:\n\t é')), max_size=8)
resource = st.fixed_dictionaries(
    {"id": nasty_text, "usageDate": st.just("2024-03-01T00:00:00Z")},
    optional={"description": nasty_text, "n": st.integers(-5, 5), "tags": st.lists(nasty_text, max_size=2)},
)


@settings(max_examples=40, deadline=None)
@given(st.lists(resource, max_size=6))
def test_array_splitting_keeps_strings_whole(resources: list[dict[str, Any]]) -> None:
    results = [read_usage(text) for text in shapes(resources).values()]
    for result in results:
        assert result.frame.equals(results[0].frame)
        assert result.bad["_record"].to_list() == results[0].bad["_record"].to_list()
    ids = results[0].frame["id"].to_list() if resources else []
    assert ids == [r["id"] for r in resources if r["id"]]


# ---- characteristic values -----------------------------------------------------------------------------------------

TWO_USAGES = [
    '{"id": "u1", "usageDate": "d", "usageCharacteristic": [{"name": "duration", "value": 12}]}',
    '{"id": "u2", "usageDate": "d", "usageCharacteristic": [{"name": "roaming", "value": true}]}',
]


def test_characteristic_values_are_text_whatever_their_json_types() -> None:
    files = {
        "one type": [TWO_USAGES[0], TWO_USAGES[0].replace("u1", "u2")],
        "mixed types": TWO_USAGES,
        "mixed, and a bad line": [TWO_USAGES[0], "{broken", TWO_USAGES[1]],
        "mixed, and another clash": [TWO_USAGES[0], TWO_USAGES[1].replace('"d"', "7")],
        "object values": [TWO_USAGES[0].replace("12", '{"a": [1]}')],
    }
    for name, lines in files.items():
        frame = read_usage("\n".join(lines)).frame
        assert frame.schema["usageCharacteristic"] == PAIRS, name
    values = read_usage("\n".join(TWO_USAGES)).frame["usageCharacteristic"].to_list()
    assert values == [[{"name": "duration", "value": "12"}], [{"name": "roaming", "value": "true"}]]
    assert read_usage("\n".join(files["object values"])).frame["usageCharacteristic"][0][0]["value"] == '{"a":[1]}'


# ---- required fields -----------------------------------------------------------------------------------------------


def test_reasons_name_every_missing_field() -> None:
    records = read_usage(
        '[{"id": "u1", "usageDate": "d"}, {"usageType": "VOICE"}, {"id": "", "usageDate": null}, {"id": "u4"}]'
    )
    assert records.frame["id"].to_list() == ["u1"]
    assert records.bad.select("_record", "reason").rows() == [
        (1, "required field id is missing; required field usageDate is missing"),
        (2, "required field id is missing; required field usageDate is missing"),
        (3, "required field usageDate is missing"),
    ]


def test_topup_needs_amount_with_units_but_no_id() -> None:
    records = tmf.read(
        b'{"amount": {"amount": 10, "units": "EUR"}}\n'
        b'{"id": "t2", "amount": 50}\n'
        b'{"id": "t3"}\n'
        b'{"id": "t4", "amount": {"units": "EUR"}}\n'
        b'{"id": "t5", "amount": {"amount": 5, "units": "EUR"}}\n',
        TOPUP,
    )
    assert records.frame.select("_record", "id").rows() == [(0, None), (4, "t5")]
    # the scalar amount made the column text; once that resource is rejected it is an object again
    assert records.frame.schema["amount"] == pl.Struct({"amount": pl.Int64, "units": pl.String})
    assert records.bad.select("_record", "reason").rows() == [
        (1, "required field amount.amount is missing; required field amount.units is missing"),
        (2, "required field amount is missing"),
        (3, "required field amount.amount is missing"),
    ]


def test_customer_needs_id_and_name() -> None:
    records = tmf.read(b'[{"id": "c1", "name": "A"}, {"id": "c2"}, {"name": "C"}]', CUSTOMER)
    assert records.frame["id"].to_list() == ["c1"]
    assert records.bad.select("_record", "reason").rows() == [
        (1, "required field name is missing"),
        (2, "required field id is missing"),
    ]
