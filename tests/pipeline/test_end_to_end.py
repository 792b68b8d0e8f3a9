"""Data in, end to end on a simulated operator: every feed's events reach the lake exactly once, every broken row
is a reject, and replaying adds nothing — on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import asn1tools
import pytest
import yaml

from questline.events.stats import stats
from questline.runtime import Runtime
from questline.simulate import simulate
from questline.sources import service
from questline.sources.sync import sync

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("operator")
    simulate(out, subscribers=400, days=10, seed=11)
    return out


def configure(rt: Runtime, document: Path) -> None:
    with rt.db.session() as session:
        for spec in service.load_document(document):
            service.save(session, spec)


def test_simulated_feeds_match_the_ground_truth(rt: Runtime, operator: Path) -> None:
    truth = json.loads((operator / "truth.json").read_text())
    configure(rt, operator / "sources.yaml")

    results = sync(rt)
    found = stats(rt)
    assert found["events"] == truth["events"]
    assert found["rejects"] == truth["bad_rows"]
    assert sum(r.duplicates for r in results.values()) == truth.get("duplicates", 0)

    replay = sync(rt, force=True)
    assert sum(r.events for r in replay.values()) == 0
    assert stats(rt) == found


def test_a_vendor_schema_named_in_the_source_config_is_ingested(rt: Runtime, tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "vendor" / "acme_pgw.asn", tmp_path / "acme_pgw.asn")
    (tmp_path / "cdr").mkdir()
    schema = asn1tools.compile_files(str(tmp_path / "acme_pgw.asn"), "ber")
    records = [acme_session(1, "447700900001", 1500, 2500, "gold"), acme_session(2, "447700900002", 10, 20, None)]
    (tmp_path / "cdr" / "acme-0001.ber").write_bytes(b"".join(schema.encode("AcmeRecord", r) for r in records))
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {
                        "name": "acme-pgw",
                        "kind": "cdr",
                        "format": {"type": "ber", "asn_schema": "acme_pgw.asn", "record_type": "AcmeRecord"},
                        "location": {"files": "cdr/*.ber"},
                        "mapping": {
                            "subscriber_id": {"field": "servedMSISDN", "msisdn": {"country_code": "44"}},
                            "event_time": "recordOpeningTime",
                            "event_type": {"const": "data_session"},
                            "value": {
                                "sum": [
                                    "listOfServiceData[*].datavolumeFBCUplink",
                                    "listOfServiceData[*].datavolumeFBCDownlink",
                                ],
                                "unit": "B",
                            },
                            "attributes": {
                                "product": "acmeSubscriberTier",
                                "cell": {"expr": "CAST(acmeCellId AS VARCHAR)"},
                            },
                            "natural_key": ["chargingID", "recordSequenceNumber"],
                        },
                    }
                ]
            }
        )
    )
    configure(rt, tmp_path / "sources.yaml")
    assert sync(rt)["acme-pgw"].events == 2
    events = rt.events.scan().collect().sort("subscriber_id")
    assert events.select("subscriber_id", "value", "product", "cell").rows() == [
        ("+447700900001", 4000.0, "gold", "4711"),
        ("+447700900002", 30.0, None, "4711"),
    ]


def acme_session(charging_id: int, msisdn: str, up: int, down: int, tier: str | None) -> tuple[str, dict[str, Any]]:
    stamp = bytes.fromhex("2611031405002B0000")  # 2026-11-03 14:05:00 +00:00, TS 32.298 TimeStamp
    record: dict[str, Any] = {
        "recordType": 85,
        "p-GWAddress": ("iPBinaryAddress", ("iPBinV4Address", bytes([10, 0, 0, 1]))),
        "chargingID": charging_id,
        "servingNodeAddress": [("iPBinaryAddress", ("iPBinV4Address", bytes([10, 0, 0, 2])))],
        "recordOpeningTime": stamp,
        "duration": 600,
        "causeForRecClosing": 0,
        "recordSequenceNumber": 1,
        "servedMSISDN": bytes.fromhex("91") + tbcd(msisdn),
        "listOfServiceData": [
            {
                "ratingGroup": 1,
                "serviceConditionChange": (b"\x08\x00\x00\x00", 32),
                "datavolumeFBCUplink": up,
                "datavolumeFBCDownlink": down,
                "timeOfReport": stamp,
            }
        ],
        "acmeCellId": 4711,
    }
    if tier:
        record["acmeSubscriberTier"] = tier
    return ("pGWRecord", record)


def tbcd(digits: str) -> bytes:
    padded = digits + "F" * (len(digits) % 2)
    return bytes(int(padded[i + 1] + padded[i], 16) for i in range(0, len(padded), 2))
