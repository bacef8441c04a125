"""Test-set readers shared by `webtext overlap` and `webtext eval`: each turns a file into a list
of documents (key, text). Pure Python (no Beam, no torch).

A test set is named on the command line as ``NAME[:FORMAT[:FIELD]]=PATH``:

    --test lambada=../shared/data/testsets/lambada/lambada_test.jsonl
    --test ptb=../shared/data/testsets/ptb/ptb.test.txt
    --test mine:jsonl:body=/data/mine.jsonl

Formats (detected from the file name when not given):

  text      plain text; documents are paragraphs separated by blank lines
  lines     one document per non-empty line
  jsonl     one JSON object per line; FIELD (default "text") is the document
  parquet   one document per row; FIELD (default "text") is the column
  wikitext  WikiText raw or tokenized (wiki.*.raw, wiki.*.tokens, wikitext-*/test.txt): one
            document per article, articles start at a level-1 heading line " = Title = "
  ptb       Penn Treebank (ptb.*.txt): one sentence a line, grouped into documents of
            PTB_LINES_PER_DOC consecutive sentences (the test file is running WSJ text)
  lambada   LAMBADA jsonl ({"text": ...}), one passage per document
  enwik8    raw bytes (Hutter Prize enwik8): cut into documents of about CHUNK_UNITS bytes at
            line ends; evaluated in bits per byte
  text8     text8 (lower-case words, one line): cut into documents of about CHUNK_UNITS
            characters at spaces; evaluated in bits per character

Each format has a canonical unit for per-unit metrics (:func:`canonical_unit`): words for
natural text, word-level tokens plus one ``<eos>`` per line of the file for WikiText and PTB
(the word-level convention: every line, blank lines included, ends in an ``<eos>`` token;
245,569 units on WikiText-2 test, 82,430 on PTB test), bytes for enwik8, characters for text8.
Bits per byte (:func:`count_bytes`) are reported for every format besides.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

FORMATS = ("text", "lines", "jsonl", "parquet", "wikitext", "ptb", "lambada", "enwik8", "text8")
PTB_LINES_PER_DOC = 50
# enwik8/text8 are one 100 MB stream; documents of this many bytes/characters keep per-example
# results (and the overlap join) meaningful while costing only a cut of context every 20 KB.
CHUNK_UNITS = 20_000
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_WIKI_TITLE = re.compile(r"^ ?= (?!=)(.*?) = ?$")


class TestSetError(ValueError):
    """A test-set spec or file is unusable; the message names it."""

    __test__ = False  # not a pytest class


@dataclass(frozen=True)
class TestSetSpec:
    __test__ = False

    name: str
    path: str
    format: str
    field: str | None = None

    def describe(self) -> str:
        extra = f", field {self.field!r}" if self.field else ""
        return f"test set {self.name!r} ({self.path}, {self.format}{extra})"


@dataclass(frozen=True)
class TestDoc:
    __test__ = False

    key: str  # where it came from: "line 12", "para at line 40", an article title
    text: str


def detect_format(path: str) -> str:
    name = Path(path).name.lower()
    parent = Path(path).parent.name.lower()
    if name.endswith(".parquet"):
        return "parquet"
    if "lambada" in name and name.endswith(".jsonl"):
        return "lambada"
    if name.endswith((".jsonl", ".json")):
        return "jsonl"
    if name.startswith("enwik8"):
        return "enwik8"
    if name.startswith("text8"):
        return "text8"
    if name.startswith("ptb.") and name.endswith(".txt"):
        return "ptb"
    if name.endswith((".raw", ".tokens")) or (
        parent.startswith("wikitext") and name.endswith(".txt")
    ):
        return "wikitext"
    return "text"


def parse_test_spec(spec: str) -> TestSetSpec:
    """``NAME[:FORMAT[:FIELD]]=PATH`` -> TestSetSpec (the path may itself contain '=' or ':')."""
    head, sep, path = spec.partition("=")
    if not sep or not path:
        raise TestSetError(f"test set {spec!r}: expected NAME=PATH or NAME:FORMAT[:FIELD]=PATH")
    parts = head.split(":")
    if len(parts) > 3:
        raise TestSetError(f"test set {spec!r}: too many ':' before '=' (NAME:FORMAT:FIELD)")
    name = parts[0]
    if not _NAME.match(name):
        raise TestSetError(f"test set {spec!r}: name {name!r} must be letters, digits, _ . -")
    fmt = parts[1] if len(parts) > 1 and parts[1] else detect_format(path)
    if fmt not in FORMATS:
        raise TestSetError(
            f"test set {spec!r}: unknown format {fmt!r} (one of {', '.join(FORMATS)})"
        )
    field = parts[2] if len(parts) > 2 and parts[2] else None
    if field is not None and fmt not in ("jsonl", "parquet"):
        raise TestSetError(f"test set {spec!r}: a field only applies to jsonl and parquet")
    return TestSetSpec(name, path, fmt, field)


def parse_test_specs(specs: list[str]) -> list[TestSetSpec]:
    parsed = [parse_test_spec(s) for s in specs]
    names = [p.name for p in parsed]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise TestSetError(f"test set names must be unique; repeated: {', '.join(dup)}")
    return parsed


# Test-set files are read through the filesystem layer (pipeline.io.shards.resolve): a local
# path or a URI (s3://bucket/key), imported when a file is read.
def _open_file(spec: TestSetSpec):  # -> pyarrow.NativeFile (random access)
    import pyarrow.fs as pafs

    from pipeline.io import shards

    fs, path = shards.resolve(spec.path)
    if fs.get_file_info(path).type != pafs.FileType.File:
        raise FileNotFoundError(f"{spec.describe()}: no such file")
    return fs.open_input_file(path)


def _read_bytes(spec: TestSetSpec) -> bytes:
    with _open_file(spec) as f:
        return f.read()


def _read_text(spec: TestSetSpec) -> str:
    data = _read_bytes(spec)
    try:
        # As open(path, encoding="utf-8").read() decodes (universal newlines).
        return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8").read()
    except UnicodeDecodeError as exc:
        raise TestSetError(f"{spec.describe()}: not UTF-8 text ({exc})") from exc


def _paragraphs(text: str) -> list[TestDoc]:
    docs, current, start = [], [], 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            if not current:
                start = number
            current.append(line)
        elif current:
            docs.append(TestDoc(f"para at line {start}", "\n".join(current)))
            current = []
    if current:
        docs.append(TestDoc(f"para at line {start}", "\n".join(current)))
    return docs


def _lines(text: str) -> list[TestDoc]:
    return [
        TestDoc(f"line {n}", line.strip())
        for n, line in enumerate(text.splitlines(), 1)
        if line.strip()
    ]


def _jsonl(spec: TestSetSpec, text: str, field: str) -> list[TestDoc]:
    docs = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TestSetError(f"{spec.describe()}: line {n}: not JSON ({exc})") from exc
        if not isinstance(obj, dict) or field not in obj:
            raise TestSetError(f"{spec.describe()}: line {n}: no field {field!r}")
        value = obj[field]
        if not isinstance(value, str):
            raise TestSetError(f"{spec.describe()}: line {n}: field {field!r} is not a string")
        docs.append(TestDoc(f"line {n}", value))
    return docs


def _parquet(spec: TestSetSpec, column: str) -> list[TestDoc]:
    import pyarrow.parquet as pq

    with _open_file(spec) as f:
        try:
            pf = pq.ParquetFile(f)
        except Exception as exc:  # pyarrow raises several types for a non-Parquet file
            raise TestSetError(f"{spec.describe()}: not a Parquet file ({exc})") from exc
        names = pf.schema_arrow.names
        if column not in names:
            raise TestSetError(
                f"{spec.describe()}: no column {column!r}; columns: {', '.join(names)}"
            )
        values = pf.read(columns=[column]).column(column).to_pylist()
    docs = []
    for value in values:
        if value is not None:
            docs.append(TestDoc(f"row {len(docs)}", str(value)))
    return docs


def _wikitext(text: str) -> list[TestDoc]:
    """Articles, each from its heading to the next one. Every line of the file is in exactly
    one document (joined with "\n"), blank lines included, so that the word-level count (one
    <eos> per line) adds up to the file's: blank lines before the first heading (WikiText
    files start with one) open the first article rather than being dropped."""
    docs: list[TestDoc] = []
    title, body = None, []
    for line in text.splitlines():
        match = _WIKI_TITLE.match(line.rstrip("\r"))
        if match:
            if title is not None or any(b.strip() for b in body):
                docs.append(TestDoc(title or "(preamble)", "\n".join(body)))
                body = []
            title, body = match.group(1).strip(), [*body, line]
        else:
            body.append(line)
    if title is not None or any(b.strip() for b in body):
        docs.append(TestDoc(title or "(preamble)", "\n".join(body)))
    return docs


def _ptb(text: str) -> list[TestDoc]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return [
        TestDoc(
            f"lines {i + 1}-{min(i + PTB_LINES_PER_DOC, len(lines))}",
            "\n".join(lines[i : i + PTB_LINES_PER_DOC]),
        )
        for i in range(0, len(lines), PTB_LINES_PER_DOC)
    ]


def _chunks(text: str, sep: str, unit: str, size: int = CHUNK_UNITS) -> list[TestDoc]:
    """Cut a long stream into pieces of about ``size`` units, each ending after ``sep`` (so no
    word or line is split); concatenating the pieces gives the stream back."""
    docs, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind(sep, start, end)
            end = cut + 1 if cut >= start else end
        docs.append(TestDoc(f"{unit} {start}-{end}", text[start:end]))
        start = end
    return docs


def _enwik8(spec: TestSetSpec) -> list[TestDoc]:
    """enwik8 is UTF-8 XML; decoded strictly so that bytes are counted exactly (a cut inside a
    multi-byte character cannot happen: pieces end at a newline)."""
    data = _read_bytes(spec)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TestSetError(f"{spec.describe()}: not UTF-8 ({exc})") from exc
    return _chunks(text, "\n", "chars")


def canonical_unit(fmt: str) -> str:
    """The unit per-unit metrics are reported in for a format: "byte", "char" or "word"."""
    return {"enwik8": "byte", "text8": "char"}.get(fmt, "word")


def count_units(fmt: str, text: str) -> int:
    """How many canonical units a (not de-tokenized) document holds. WikiText and PTB count
    word-level tokens plus one <eos> per line, blank lines included, as word-level perplexities
    do (the documents of :func:`read_test_set` hold every line of a WikiText file, so the
    per-document counts add up to the standard total of the file)."""
    if fmt == "enwik8":
        return len(text.encode("utf-8"))
    if fmt == "text8":
        return len(text)
    words = len(text.split())
    if fmt in ("wikitext", "ptb"):
        return words + (text.count("\n") + 1 if text else 0)
    return words


def count_bytes(text: str) -> int:
    """UTF-8 bytes of a text (the denominator of bits per byte): bytes, not characters."""
    return len(text.encode("utf-8"))


def split_lambada(spec_name: str, key: str, text: str) -> tuple[str, str]:
    """(context, target) of a LAMBADA passage, cut where its last whitespace-delimited word
    begins: ``context == text[:start]`` byte for byte, whatever whitespace precedes the word
    (a space, a newline, several), and ``target`` the word itself (whitespace after the word,
    if any, is not part of it and is not scored). So ``context + target == text.rstrip()``.
    Which tokens are scored is decided on the tokenized passage (eval.evaluate.lambada_ids).
    A passage with no last word, or nothing before it, is an error naming the passage."""
    stripped = text.rstrip()
    start = len(stripped)
    while start > 0 and not stripped[start - 1].isspace():
        start -= 1
    if not stripped or not stripped[:start].strip():
        raise TestSetError(
            f"test set {spec_name!r}, {key}: LAMBADA passage needs context and a last word, "
            f"got {text[:60]!r}"
        )
    return stripped[:start], stripped[start:]


def read_test_set(spec: TestSetSpec) -> list[TestDoc]:
    """The documents of a test set. A missing file, an empty one, a malformed line or a
    missing field is an error naming the test set and the position."""
    if spec.format == "parquet":
        docs = _parquet(spec, spec.field or "text")
    elif spec.format == "enwik8":
        docs = _enwik8(spec)
    else:
        text = _read_text(spec)
        if spec.format == "text":
            docs = _paragraphs(text)
        elif spec.format == "lines":
            docs = _lines(text)
        elif spec.format in ("jsonl", "lambada"):
            docs = _jsonl(spec, text, spec.field or "text")
        elif spec.format == "wikitext":
            docs = _wikitext(text)
        elif spec.format == "text8":
            docs = _chunks(text.rstrip("\n"), " ", "chars")
        else:
            docs = _ptb(text)
    if not any(d.text.strip() for d in docs):
        raise TestSetError(f"{spec.describe()}: no documents (the file is empty)")
    return docs
