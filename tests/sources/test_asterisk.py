"""Asterisk cdr_csv (Master.csv) reader: headerless CSV in the configured column order."""

from __future__ import annotations

from pathlib import Path

from questline.sources.formats import asterisk, read
from questline.sources.spec import ASTERISK_COLUMNS, AsteriskFormat

FIXTURES = Path(__file__).parent.parent / "fixtures" / "asterisk"
NEWER_COLUMNS = [*ASTERISK_COLUMNS, "peeraccount", "linkedid", "sequence"]


def test_master_csv_reads_every_column_as_text() -> None:
    records = read(FIXTURES / "Master.csv", AsteriskFormat())
    assert records.frame.columns == ["_record", *ASTERISK_COLUMNS]
    assert records.frame["_record"].to_list() == [0, 1, 2, 3, 4, 5]
    assert records.bad.is_empty()
    first = records.frame.row(0, named=True)
    assert first == {
        "_record": 0,
        "accountcode": "",
        "src": "1001",
        "dst": "1002",
        "dcontext": "from-internal",
        "clid": '"Alice" <1001>',
        "channel": "PJSIP/1001-00000001",
        "dstchannel": "PJSIP/1002-00000002",
        "lastapp": "Dial",
        "lastdata": "PJSIP/1002,30,tT",
        "start": "2024-03-01 08:15:30",
        "answer": "2024-03-01 08:15:34",
        "end": "2024-03-01 08:17:39",
        "duration": "129",
        "billsec": "125",
        "disposition": "ANSWERED",
        "amaflags": "DOCUMENTATION",
        "uniqueid": "1709280930.1",
        "userfield": "",
    }


def test_dispositions_and_unanswered_calls() -> None:
    frame = read(FIXTURES / "Master.csv", AsteriskFormat()).frame
    assert frame["disposition"].to_list() == ["ANSWERED", "NO ANSWER", "BUSY", "ANSWERED", "ANSWERED", "FAILED"]
    assert frame["answer"].to_list()[1:3] == ["", ""]  # an unanswered call has an empty answer time
    assert frame["billsec"].to_list() == ["125", "0", "0", "180", "40", "0"]
    assert frame["clid"].to_list()[3] == '"0698765432" <0698765432>'
    assert frame["dstchannel"].to_list()[4] == ""


def test_newer_asterisk_columns_read_when_configured() -> None:
    records = read(FIXTURES / "Master-21.csv", AsteriskFormat(columns=NEWER_COLUMNS))
    assert records.frame.columns == ["_record", *NEWER_COLUMNS]
    assert records.bad.is_empty()
    assert records.frame.select("peeraccount", "linkedid", "sequence").rows() == [
        ("", "1709280930.1", "12"),
        ("", "1709283600.3", "13"),
        ("", "1709283900.5", "14"),
        ("carrier-a", "1709287200.7", "15"),
    ]


def test_rows_with_another_number_of_fields_are_bad() -> None:
    records = asterisk.read(FIXTURES / "Master-21.csv", AsteriskFormat())
    assert records.frame.is_empty()
    assert records.bad["_record"].to_list() == [0, 1, 2, 3]
    assert set(records.bad["reason"]) == {"expected 18 fields, found 21"}


def test_a_broken_row_among_good_ones() -> None:
    lines = (FIXTURES / "Master.csv").read_bytes().splitlines()
    data = b"\n".join([lines[0], b'"","1001","1002","from-internal"', lines[1]])
    records = asterisk.read(data, AsteriskFormat())
    assert records.frame["_record"].to_list() == [0, 2]
    assert records.bad.rows() == [(1, '"","1001","1002","from-internal"', "expected 18 fields, found 4")]


def test_custom_layout() -> None:
    columns = ["start", "src", "dst", "billsec", "disposition"]
    data = b'"2024-03-01 08:15:30","1001","1002",125,"ANSWERED"\n"2024-03-01 09:00:00","1002","1003",0,"BUSY"\n'
    records = asterisk.read(data, AsteriskFormat(columns=columns))
    assert records.frame.rows() == [
        (0, "2024-03-01 08:15:30", "1001", "1002", "125", "ANSWERED"),
        (1, "2024-03-01 09:00:00", "1002", "1003", "0", "BUSY"),
    ]
