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
    count_bytes,
    count_units,
    detect_format,
    parse_test_spec,
    parse_test_specs,
    read_test_set,
    split_lambada,
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


def _units(path) -> int:
    spec = parse_test_spec(f"t={path}")
    return sum(count_units(spec.format, d.text) for d in read_test_set(spec))


def test_word_level_units_are_the_standard_totals(shared_file):
    """Words plus one <eos> per line of the file, blank lines included: the denominators of the
    published word-level perplexities."""
    wt2 = shared_file("testsets", "wikitext-2", "test.txt")
    assert _units(wt2) == 245_569  # 241,211 words + 4,358 lines
    assert _units(shared_file("testsets", "wikitext-2", "valid.txt")) == 217_646
    assert _units(shared_file("testsets", "wikitext-103", "wiki.test.tokens")) == 245_569
    assert _units(shared_file("testsets", "ptb", "ptb.test.txt")) == 82_430
    # The shared raw copy dropped the original's blank lines (its SOURCE.txt): 2,891 lines.
    assert _units(shared_file("testsets", "wikitext-2-raw", "wiki.test.raw")) == 241_211 + 2_891
    # every line of the file is in exactly one document, in order (so the sum is the file's)
    docs = read_test_set(parse_test_spec(f"t={wt2}"))
    assert "\n".join(d.text for d in docs) == "\n".join(wt2.read_text().splitlines())


def test_wikitext_blank_lines_each_end_in_eos(tmp_path):
    path = tmp_path / "wiki.test.tokens"
    path.write_text(" \n = A = \n \n a b c \n \n = B = \n \n d e \n \n", encoding="utf-8")
    docs = read_test_set(parse_test_spec(f"t={path}"))
    assert [d.key for d in docs] == ["A", "B"]
    assert docs[0].text == " \n = A = \n \n a b c \n "  # the leading blank line is kept
    # 9 lines (5 blank), 9 words: "=", "A", "=", "a", "b", "c", "=", "B", "="; and "d", "e"
    assert [count_units("wikitext", d.text) for d in docs] == [6 + 5, 5 + 4]
    assert sum(count_units("wikitext", d.text) for d in docs) == 11 + 9


@pytest.mark.parametrize(
    "text,context,target",
    [
        ("he said hello", "he said ", "hello"),
        ("kind of\n\nPower", "kind of\n\n", "Power"),
        ("saw the \n\nrecorder", "saw the \n\n", "recorder"),
        ("a\tb  \u201cSal", "a\tb  ", "\u201cSal"),
        ("caf\u00e9 na\u00efve\u00a0\u00e9t\u00e9", "caf\u00e9 na\u00efve\u00a0", "\u00e9t\u00e9"),
        ("trailing space after word \n", "trailing space after ", "word"),
    ],
)
def test_split_lambada_keeps_the_passage_as_written(text, context, target):
    assert split_lambada("t", "line 1", text) == (context, target)
    assert context + target == text.rstrip()


@pytest.mark.parametrize("text", ["oneword", "  lone \n", "", " \n "])
def test_split_lambada_needs_context_and_a_word(text):
    with pytest.raises(TestSetError, match="'t', line 3: LAMBADA passage needs context"):
        split_lambada("t", "line 3", text)


def test_lambada_test_set_splits_byte_for_byte(shared_file):
    path = shared_file("testsets", "lambada", "lambada_test.jsonl")
    docs = read_test_set(parse_test_spec(f"lambada={path}"))
    splits = [split_lambada("lambada", d.key, d.text) for d in docs]
    assert all(c + t == d.text for (c, t), d in zip(splits, docs, strict=True))
    assert all(t and not any(ch.isspace() for ch in t) for _, t in splits)
    # the passages whose last word follows something else than one space: a line break
    after_newline = [(c[-4:], t) for c, t in splits if c[len(c.rstrip()) :] != " "]
    assert len(after_newline) == 7 and all("\n" in c for c, _ in after_newline)
    assert ("of\n\n", "Power") in after_newline


def test_count_bytes_counts_utf8_bytes_not_characters():
    text = "na\u00efve caf\u00e9 \u6771\u4eac \U0001f600"  # 2-, 3- and 4-byte characters
    assert len(text) == 15 and count_bytes(text) == len(text.encode("utf-8")) == 24
