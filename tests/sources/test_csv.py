"""The CSV reader: every field as text, rows with the wrong number of fields set aside with their position."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from questline.sources.formats.csv import read
from questline.sources.spec import CsvFormat

FIELD = st.text(alphabet="abcXYZ019 .+-", min_size=1, max_size=6).map(str.strip).filter(bool)
ROW = st.lists(FIELD, min_size=1, max_size=5)


@given(rows=st.lists(ROW, min_size=1, max_size=40), header=st.booleans(), delimiter=st.sampled_from([",", ";", "|"]))
def test_rows_with_the_wrong_field_count_are_bad_and_the_rest_keep_their_position(
    rows: list[list[str]], header: bool, delimiter: str
) -> None:
    columns = ["c0", "c1", "c2"]
    text = delimiter.join(columns) + "\n" if header else ""
    text += "".join(delimiter.join(row) + "\n" for row in rows)
    fmt = CsvFormat(delimiter=delimiter, header=header, columns=None if header else columns)
    result = read(text.encode(), fmt)

    good = [(i, row) for i, row in enumerate(rows) if len(row) == 3]
    bad = [(i, delimiter.join(row)) for i, row in enumerate(rows) if len(row) != 3]
    assert result.frame.select("_record", *columns).rows() == [(i, *row) for i, row in good]
    assert result.bad.select("_record", "raw").rows() == bad
    assert all(reason.startswith("expected 3 fields, found ") for reason in result.bad.get_column("reason"))


def test_values_stay_text_and_empty_fields_are_null() -> None:
    result = read(b"id;amount;when\n007;12.50;\n", CsvFormat(delimiter=";"))
    assert result.frame.schema["id"] == pl.String
    assert result.frame.row(0) == (0, "007", "12.50", None)


def test_quoted_fields_keep_their_delimiters() -> None:
    result = read(b'id,clid\n1,"""Alice"" <1001>, ext"\n', CsvFormat())
    assert result.frame.get_column("clid").to_list() == ['"Alice" <1001>, ext']


def test_a_header_row_with_a_byte_order_mark() -> None:
    result = read("\ufeffid,name\n1,x\n".encode(), CsvFormat())
    assert result.frame.columns == ["_record", "id", "name"]
