"""Test-set readers and the NAME[:FORMAT[:FIELD]]=PATH spec parser."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eval.testsets import (
    TestSetError,
    detect_format,
    parse_test_spec,
    parse_test_specs,
    read_test_set,
)

names = st.from_regex(r"[A-Za-z0-9_.\-]{1,12}", fullmatch=True)
paths = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)


@given(names, paths)
def test_spec_roundtrip_keeps_any_path(name, path):
    spec = parse_test_spec(f"{name}={path}")
    assert spec.name == name and spec.path == path and spec.format == detect_format(path)
    spec = parse_test_spec(f"{name}:jsonl:body={path}")
    assert (spec.format, spec.field, spec.path) == ("jsonl", "body", path)


@pytest.mark.parametrize(
    "bad,message",
    [
        ("nopath", "expected NAME=PATH"),
        ("x=", "expected NAME=PATH"),
        ("bad name=/x", "must be letters"),
        ("x:csv=/x", "unknown format"),
        ("x:text:f=/x", "only applies"),
        ("a:b:c:d=/x", "too many"),
    ],
)
def test_bad_specs_are_explained(bad, message):
    with pytest.raises(TestSetError, match=message):
        parse_test_spec(bad)
    with pytest.raises(TestSetError, match="repeated: a"):
        parse_test_specs(["a=/x", "a=/y"])


def test_format_detection():
    assert detect_format("/d/testsets/wikitext-2/test.txt") == "wikitext"
    assert detect_format("wiki.test.raw") == detect_format("wiki.valid.tokens") == "wikitext"
    assert detect_format("ptb.test.txt") == "ptb"
    assert detect_format("lambada_test.jsonl") == "lambada"
    assert detect_format("x.jsonl") == "jsonl" and detect_format("x.parquet") == "parquet"
    assert detect_format("notes.txt") == "text"


def test_standard_files(shared_file):
    def read(spec_path, name="t"):
        return read_test_set(parse_test_spec(f"{name}={spec_path}"))

    raw = read(shared_file("testsets", "wikitext-2-raw", "wiki.test.raw"))
    tok = read(shared_file("testsets", "wikitext-2", "test.txt"))
    w103 = read(shared_file("testsets", "wikitext-103", "wiki.test.tokens"))
    assert len(raw) == len(tok) == len(w103) == 62  # WikiText-2/103 test: 62 articles
    assert raw[0].key == "Robert Boulter" and "\r" not in raw[0].key
    assert "@-@" in tok[0].text + tok[1].text + tok[2].text
    lambada = read(shared_file("testsets", "lambada", "lambada_test.jsonl"))
    assert len(lambada) == 5153
    ptb = read(shared_file("testsets", "ptb", "ptb.test.txt"))
    lines = shared_file("testsets", "ptb", "ptb.test.txt").read_text().splitlines()
    assert sum(len(d.text.splitlines()) for d in ptb) == sum(1 for x in lines if x.strip())
    web = read(shared_file("webtext", "webtext.test.jsonl"))
    assert len(web) == 4723


def test_plain_lines_jsonl_parquet_and_errors(tmp_path):
    (tmp_path / "a.txt").write_text("para one\nstill one\n\n\npara two\n", encoding="utf-8")
    docs = read_test_set(parse_test_spec(f"a={tmp_path / 'a.txt'}"))
    assert [(d.key, d.text) for d in docs] == [
        ("para at line 1", "para one\nstill one"),
        ("para at line 5", "para two"),
    ]
    docs = read_test_set(parse_test_spec(f"a:lines={tmp_path / 'a.txt'}"))
    assert [d.text for d in docs] == ["para one", "still one", "para two"]

    (tmp_path / "b.jsonl").write_text(
        json.dumps({"body": "x y"}) + "\n\n" + json.dumps({"body": "z"}) + "\n", encoding="utf-8"
    )
    docs = read_test_set(parse_test_spec(f"b:jsonl:body={tmp_path / 'b.jsonl'}"))
    assert [(d.key, d.text) for d in docs] == [("line 1", "x y"), ("line 3", "z")]
    with pytest.raises(TestSetError, match="line 1: no field 'text'"):
        read_test_set(parse_test_spec(f"b={tmp_path / 'b.jsonl'}"))
    (tmp_path / "c.jsonl").write_text('{"text": "ok"}\n{"text": broken\n', encoding="utf-8")
    with pytest.raises(TestSetError, match="line 2: not JSON"):
        read_test_set(parse_test_spec(f"c={tmp_path / 'c.jsonl'}"))

    pq.write_table(pa.table({"content": ["a b c", None, "d"]}), tmp_path / "d.parquet")
    docs = read_test_set(parse_test_spec(f"d:parquet:content={tmp_path / 'd.parquet'}"))
    assert [d.text for d in docs] == ["a b c", "d"]
    with pytest.raises(TestSetError, match="no column 'text'; columns: content"):
        read_test_set(parse_test_spec(f"d={tmp_path / 'd.parquet'}"))
    (tmp_path / "e.parquet").write_text("not parquet")
    with pytest.raises(TestSetError, match="not a Parquet file"):
        read_test_set(parse_test_spec(f"e={tmp_path / 'e.parquet'}"))

    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(TestSetError, match="'empty'.*no documents"):
        read_test_set(parse_test_spec(f"empty={tmp_path / 'empty.txt'}"))
    with pytest.raises(FileNotFoundError, match="'gone'.*no such file"):
        read_test_set(parse_test_spec(f"gone={tmp_path / 'gone.txt'}"))
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(TestSetError, match="not UTF-8"):
        read_test_set(parse_test_spec(f"l={tmp_path / 'latin1.txt'}"))
