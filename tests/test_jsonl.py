"""JSON Lines reading: lazy, numbered, every bad line kept; the compact writer."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pytest_segpendo.jsonl import JsonlError, dumps, iter_jsonl, load_jsonl, write_jsonl


def test_lines_are_numbered_from_one_and_blank_lines_skipped() -> None:
    data = io.BytesIO(b'{"a":1}\n\n  \n[2]\r\n"x"\n')
    items = list(iter_jsonl(data))
    assert [(i.line, i.value, i.error) for i in items] == [(1, {"a": 1}, None), (4, [2], None), (5, "x", None)]


def test_bad_lines_carry_an_error_and_reading_goes_on() -> None:
    data = io.BytesIO(b'{"a":\n\xc3\x28\n{"ok":true}\n{"a":1} {"b":2}\n')
    items = list(iter_jsonl(data))
    assert [(i.line, i.error) for i in items] == [
        (1, "invalid JSON: Expecting value (column 6)"),
        (2, "not valid UTF-8 (byte 1)"),
        (3, None),
        (4, "invalid JSON: Extra data (column 9)"),
    ]


def test_load_jsonl_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"a":1}\n{"a":\n')
    with pytest.raises(JsonlError, match=r"r\.jsonl:2: invalid JSON: Expecting value"):
        load_jsonl(path)
    with pytest.raises(JsonlError, match=r"cannot read .*missing\.jsonl: No such file or directory"):
        load_jsonl(tmp_path / "missing.jsonl")
    path.write_text('{"a":1}\n[]\n')
    assert load_jsonl(path) == [{"a": 1}, []]


def test_writer_is_compact_and_keeps_unicode() -> None:
    out = io.StringIO()
    assert write_jsonl([{"name": "Zoë 🚀", "n": [1, 2]}, None], out) == 2
    assert out.getvalue() == '{"name":"Zoë 🚀","n":[1,2]}\nnull\n'
    assert dumps({"a": "é"}) == '{"a":"é"}'
