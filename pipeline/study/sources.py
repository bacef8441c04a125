"""The study's corpus: real text from ``../shared/data`` as ``docs/`` rows.

Three sources, none of them a test set the study evaluates on:

* ``gutenberg``: NLTK's 17 Project Gutenberg books (``prose/nltk_gutenberg_17books.tar.xz``),
  stored one tokenized sentence a line ("Emma Woodhouse , handsome"); each line is
  de-tokenized (``eval.detok.wikitext_detokenize``) and every book is cut into documents of
  about ``words_per_doc`` words at line boundaries, the size of a long web article;
* ``dragnet`` and ``cleaneval``: the hand-corrected main text of 1,381 news and blog pages and
  58 CleanEval pages (``extraction/*/GoldStandard``), comments and paragraph markers removed:
  what ``webtext extract`` would ideally keep of a page;
* ``webtext-valid``: the 4,724 WebText document prefixes of OpenAI's "valid" file (never
  ``webtext.test.jsonl``: the study evaluates on it).

No document has a URL or Reddit metadata: ``url`` names the file it came from
(``shared:prose/...#12``), ``domain`` the source, karma and post time are 0.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.detok import wikitext_detokenize

BOOKS = Path("prose") / "nltk_gutenberg_17books.tar.xz"
GOLD_SETS = ("dragnet", "cleaneval-dev")
WEBTEXT_VALID = Path("webtext") / "webtext.valid.jsonl"
DRAGNET_COMMENTS = "!@#$%^&*()  COMMENTS"  # the gold's line before user comments
# Files the study reads from the shared folder; a missing one is named before any work.
REQUIRED = (
    BOOKS,
    WEBTEXT_VALID,
    *(Path("extraction") / name / "GoldStandard" for name in GOLD_SETS),
    Path("gpt2") / "encoder.json",
    Path("gpt2") / "vocab.bpe",
)


@dataclass(frozen=True)
class Document:
    source: str  # gutenberg, dragnet, cleaneval, webtext-valid
    name: str  # where in the source: the book and chunk, the gold file, the line
    text: str


def missing_files(shared: Path, extra: tuple[Path, ...] = ()) -> list[str]:
    """The files and folders under ``shared`` the study needs but cannot find."""
    return [str(shared / p) for p in (*REQUIRED, *extra) if not (shared / p).exists()]


def book_documents(shared: Path, words_per_doc: int) -> Iterator[Document]:
    """Every book, de-tokenized and cut at line boundaries into ~``words_per_doc`` words."""
    with tarfile.open(shared / BOOKS, "r:xz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is None or not member.name.endswith(".txt"):
                continue
            book = Path(member.name).name
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
            chunk: list[str] = []
            words = index = 0
            for line in lines:
                if not line.strip():
                    continue
                chunk.append(wikitext_detokenize(line.strip()))
                words += len(line.split())
                if words >= words_per_doc:
                    yield Document("gutenberg", f"{book}#{index}", "\n".join(chunk))
                    chunk, words, index = [], 0, index + 1
            if chunk:
                yield Document("gutenberg", f"{book}#{index}", "\n".join(chunk))


def gold_text(raw: str) -> str:
    """A gold file's article text: user comments and CleanEval's <p>/<h>/<l> markers removed,
    blank-line runs collapsed to one paragraph break."""
    text = raw.split(DRAGNET_COMMENTS)[0]
    for marker in ("<p>", "<h>", "<l>"):
        text = text.replace(marker, "")
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def decode_gold(data: bytes) -> str:
    """A gold file's text: a few are UTF-16 with a byte-order mark, a few UTF-8 with one."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


def gold_documents(shared: Path) -> Iterator[Document]:
    for name in GOLD_SETS:
        folder = shared / "extraction" / name / "GoldStandard"
        source = name.removesuffix("-dev")
        for path in sorted(folder.glob("*.txt.gz"), key=lambda p: (len(p.name), p.name)):
            raw = decode_gold(gzip.decompress(path.read_bytes()))
            yield Document(source, f"{name}/{path.name}", gold_text(raw))


def webtext_documents(shared: Path) -> Iterator[Document]:
    with open(shared / WEBTEXT_VALID, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if line.strip():
                yield Document(
                    "webtext-valid", f"webtext.valid.jsonl#{i}", json.loads(line)["text"]
                )


def study_documents(
    shared: Path, words_per_doc: int, max_per_source: int | None = None
) -> Iterator[Document]:
    """The study's documents, source by source, at most ``max_per_source`` of each."""
    for docs in (
        book_documents(shared, words_per_doc),
        gold_documents(shared),
        webtext_documents(shared),
    ):
        for i, doc in enumerate(docs):
            if max_per_source is not None and i >= max_per_source:
                break
            yield doc


def doc_row(doc: Document) -> dict[str, Any]:
    """The ``docs/`` row of a document (pipeline.io.schemas.DOCS)."""
    url = f"shared:{doc.source}/{doc.name}"
    return {
        "doc_id": hashlib.sha1(url.encode("utf-8")).hexdigest()[:16],
        "url": url,
        "final_url": url,
        "domain": doc.source,
        "title": doc.name,
        "text": doc.text,
        "n_chars": len(doc.text),
        "max_score": 0,
        "total_score": 0,
        "num_posts": 0,
        "subreddits": [],
        "first_seen_utc": 0,
    }
