"""The HTTP API as a client uses it: keys and scopes, CloudEvents in three modes, raw records, limits and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from questline.api.keys import Scope, create
from questline.app import create_app
from questline.events.stats import stats
from questline.runtime import Runtime
from questline.sources import service
from questline.sources.spec import SourceSpec

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(rt)) as test_client:
        yield test_client


def key(rt: Runtime, *scopes: Scope) -> dict[str, str]:
    with rt.db.session() as session:
        return {"Authorization": f"Bearer {create(session, list(scopes))}"}


def event(**over: Any) -> dict[str, Any]:
    base = {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "/selfcare/app",
        "type": "io.questline.app_login",
        "subject": "+447700900123",
        "time": "2026-11-03T14:05:00Z",
        "datacontenttype": "application/json",
        "data": {"value": 1, "device": "Pixel 9"},
    }
    return {k: v for k, v in (base | over).items() if v is not None}


def post(client: TestClient, headers: dict[str, str], body: Any, content_type: str = STRUCTURED, **kw: Any) -> Any:
    return client.post("/v1/events", content=json.dumps(body), headers=headers | {"Content-Type": content_type}, **kw)


def test_health_needs_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_keys_and_scopes(client: TestClient, rt: Runtime) -> None:
    missing = post(client, {}, event())
    assert missing.status_code == 401 and missing.json()["field"] == "Authorization"
    assert post(client, {"Authorization": "Bearer ql_wrong"}, event()).status_code == 401
    forbidden = post(client, key(rt, Scope.APP), event())
    assert forbidden.status_code == 403 and "ingest" in forbidden.json()["message"]
    assert post(client, key(rt, Scope.ADMIN), event()).status_code == 200
    assert client.get("/v1/rejects", headers=key(rt, Scope.INGEST)).status_code == 403


def test_structured_event_is_ingested_once(client: TestClient, rt: Runtime) -> None:
    headers = key(rt, Scope.INGEST)
    assert post(client, headers, event()).json() == {"accepted": 1, "duplicates": 0, "rejected": 0, "invalid": 0}
    assert post(client, headers, event()).json() == {"accepted": 0, "duplicates": 1, "rejected": 0, "invalid": 0}
    lake = rt.events.scan().collect()
    assert lake.select("subscriber_id", "event_type", "device").rows() == [("+447700900123", "app_login", "Pixel 9")]


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({k: v for k, v in event().items() if k != "specversion"}, "specversion", "specversion"),
        (event(specversion="0.3"), "specversion", "1.0"),
        (event(id=""), "id", "id"),
        (event(time="yesterday"), "time", "RFC 3339"),
    ],
)
def test_spec_violations_are_refused_naming_the_rule(
    client: TestClient, rt: Runtime, body: dict[str, Any], field: str, says: str
) -> None:
    answer = post(client, key(rt, Scope.INGEST), body)
    assert 400 <= answer.status_code < 500
    assert answer.json()["field"] == field
    assert says in answer.json()["message"]
    assert stats(rt)["total"] == 0


def test_batch_is_answered_per_item(client: TestClient, rt: Runtime) -> None:
    items = [
        event(id="a"),
        event(id="b", specversion=None),
        event(id="c", type="com.example.unknown"),
        event(id="d", subject=None),
        event(id="e", type="io.questline.recharge", data={"value": 10, "currency": "GBP", "channel": "app"}),
    ]
    answer = post(client, key(rt, Scope.INGEST), items, BATCH).json()
    assert (answer["accepted"], answer["rejected"], answer["invalid"]) == (2, 2, 1)
    statuses = [(i["index"], i["status"]) for i in answer["items"]]
    assert statuses == [(0, "accepted"), (1, "invalid"), (2, "rejected"), (3, "rejected"), (4, "accepted")]
    assert answer["items"][2]["reason"] == "event_type: unknown code 'com.example.unknown'"
    assert answer["items"][3]["reason"].startswith("subscriber_id: missing")
    assert stats(rt)["events"] == {"cdr": 0, "billing": 1, "app": 1, "crm": 0, "network": 0}

    again = post(client, key(rt, Scope.INGEST), items, BATCH).json()
    assert (again["accepted"], again["duplicates"]) == (0, 2)
    assert stats(rt)["rejects"] == 2  # the same bad events posted twice are kept once


def test_binary_mode_reads_ce_headers(client: TestClient, rt: Runtime) -> None:
    headers = key(rt, Scope.INGEST) | {
        "ce-specversion": "1.0",
        "ce-id": "bin-1",
        "ce-source": "/selfcare/app",
        "ce-type": "io.questline.feature_used",
        "ce-subject": "%2B447700900123",
        "ce-time": "2026-11-03T14:05:00Z",
        "Content-Type": "application/json",
    }
    answer = client.post("/v1/events", content=json.dumps({"value": 1, "feature": "data-gifting"}), headers=headers)
    assert answer.json()["accepted"] == 1
    assert rt.events.scan().collect().select("subscriber_id", "feature").row(0) == ("+447700900123", "data-gifting")


def test_unsupported_media_type_and_size_limit(client: TestClient, rt: Runtime) -> None:
    headers = key(rt, Scope.INGEST)
    assert post(client, headers, event(), "application/xml").status_code == 415
    assert post(client, headers, event(), "application/cloudevents+xml").status_code == 415
    limit = rt.settings.max_request_bytes
    huge = [event(id=str(i), data={"value": 1, "device": "x" * 1000}) for i in range(limit // 1000 + 10)]
    too_big = post(client, headers, huge, BATCH)
    assert too_big.status_code == 413 and too_big.json()["field"] == "body"


def test_raw_records_run_through_a_sources_mapping(client: TestClient, rt: Runtime) -> None:
    spec = SourceSpec.model_validate(
        {
            "name": "crm-push",
            "kind": "crm",
            "format": {"type": "jsonl"},
            "location": {"http": True},
            "mapping": {
                "subscriber_id": {"field": "msisdn", "msisdn": {"country_code": "44"}},
                "event_time": "at",
                "event_type": {"field": "change", "lookup": {"PLAN": "plan_changed", "CMP": "complaint"}},
                "attributes": {"plan": "plan.code"},
                "natural_key": ["ticket"],
            },
        }
    )
    with rt.db.session() as session:
        service.save(session, spec)
    records = [
        {"ticket": 1, "msisdn": "07700900123", "at": "2026-11-03T10:00:00Z", "change": "PLAN", "plan": {"code": "XL"}},
        {"ticket": 2, "msisdn": "07700900123", "at": "not a time", "change": "CMP"},
    ]
    headers = key(rt, Scope.INGEST)
    answer = client.post("/v1/sources/crm-push/records", json=records, headers=headers).json()
    assert (answer["accepted"], answer["rejected"]) == (1, 1)
    assert answer["rejects"] == [{"index": 1, "reason": "event_time: cannot read 'not a time' as a timestamp"}]
    assert rt.events.scan().collect().item(0, "plan") == "XL"

    assert client.post("/v1/sources/nope/records", json=records, headers=headers).status_code == 404
    bad = client.post("/v1/sources/crm-push/records", json={"not": "a list"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["field"] == "body"

    rejects = client.get("/v1/rejects", headers=key(rt, Scope.ADMIN)).json()
    assert [(r["source"], r["location"], r["reason"]) for r in rejects] == [
        ("crm-push", "/v1/sources/crm-push/records", "event_time: cannot read 'not a time' as a timestamp")
    ]
