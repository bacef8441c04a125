"""Synthetic inputs for tests and benchmarks (nothing in the packages imports this).

Token directories: :func:`write_token_shards` writes documents of given ids as a finished
tokens/ directory (the schema ``webtext tokenize`` writes, pipeline.io.schemas.TOKENS).

Labelled near-duplicate data from real text, for measuring de-duplication quality.

Real documents are cut from real prose (the NLTK Gutenberg books, one sentence a line) or taken
from a JSON-lines file; near-duplicates are copies with controlled edits — words inserted from
other documents, spans deleted, boilerplate header/footer changed — and each pair is labelled
with its exact shingle Jaccard, so precision and recall can be measured at any threshold.
"""

from __future__ import annotations

import json
import os
import random
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.io import schemas, shards

BOILERPLATE = [
    "Share this article on Facebook Twitter and email. Subscribe to our newsletter.",
    "Copyright 2019 All rights reserved. Terms of use and privacy policy apply.",
    "Advertisement. Continue reading the main story below. Related coverage follows.",
    "Sign up for our daily briefing and follow us for the latest updates.",
    "Comments are closed. Read more stories from this author in the archive.",
]


def prose_sentences(tar_path: str | Path) -> Iterator[tuple[str, str]]:
    """(book name, sentence line) for every non-empty line of the NLTK Gutenberg tarball."""
    with tarfile.open(tar_path, "r:xz") as tf:
        for member in sorted(tf.getmembers(), key=lambda m: m.name):
            if not (member.isfile() and member.name.endswith(".txt")):
                continue
            f = tf.extractfile(member)
            if f is None:
                continue
            book = Path(member.name).stem
            for line in f.read().decode("utf-8", "replace").splitlines():
                if line.strip():
                    yield book, line.strip()


def prose_documents(
    tar_path: str | Path, sentences_per_doc: int = 12, limit: int | None = None
) -> list[tuple[str, str]]:
    """(doc key "book:N", text) documents of consecutive sentences from each book."""
    docs: list[tuple[str, str]] = []
    current: list[str] = []
    current_book = None
    for book, line in prose_sentences(tar_path):
        if book != current_book:
            current, current_book = [], book
        current.append(line)
        if len(current) == sentences_per_doc:
            docs.append((f"{book}:{len(docs)}", " ".join(current)))
            current = []
            if limit is not None and len(docs) >= limit:
                break
    return docs


def jsonl_texts(path: str | Path, field: str = "text", limit: int | None = None) -> list[str]:
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(json.loads(line)[field])
                if limit is not None and len(out) >= limit:
                    break
    return out


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    from dedup.text import words  # here: the GPU benchmarks import this file without dedup's deps

    w = words(text)
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


def true_jaccard(a: str, b: str, n: int = 5) -> float:
    from dedup.minhash import exact_jaccard

    return exact_jaccard(shingles(a, n), shingles(b, n))


def edit_copy(text: str, donor: str, rng: random.Random, edits: int) -> str:
    """A copy of text with `edits` random edits: insert a few donor words, delete a span of
    words, or swap the boilerplate header/footer."""
    w = text.split()
    donor_words = donor.split() or ["filler"]
    header, footer = "", ""
    for _ in range(edits):
        kind = rng.choice(("insert", "delete", "boilerplate"))
        if kind == "insert" or len(w) < 10:
            pos = rng.randrange(len(w) + 1)
            start = rng.randrange(len(donor_words))
            w[pos:pos] = donor_words[start : start + rng.randint(1, 4)]
        elif kind == "delete":
            pos = rng.randrange(len(w))
            del w[pos : pos + rng.randint(1, 4)]
        else:
            header = rng.choice(BOILERPLATE)
            footer = rng.choice(BOILERPLATE)
    return " ".join(x for x in (header, " ".join(w), footer) if x)


@dataclass(frozen=True)
class LabelledPair:
    a: int  # index into the document list
    b: int
    jaccard: float  # exact shingle Jaccard
    kind: str  # "edited" | "unrelated"


def near_duplicate_set(
    texts: list[str], copies: int, seed: int = 0, max_edits: int = 24
) -> tuple[list[str], list[LabelledPair]]:
    """texts + `copies` edited copies of random originals (edit counts spread from 1 to
    max_edits, giving Jaccard levels from ~0.95 down to ~0.2), plus as many unrelated pairs.
    Returns (all documents, labelled pairs)."""
    rng = random.Random(seed)
    docs = list(texts)
    pairs: list[LabelledPair] = []
    for c in range(copies):
        src = rng.randrange(len(texts))
        donor = texts[(src + 1 + rng.randrange(len(texts) - 1)) % len(texts)]
        edits = 1 + (c * max_edits) // max(1, copies)
        copy = edit_copy(texts[src], donor, rng, edits)
        docs.append(copy)
        pairs.append(LabelledPair(src, len(docs) - 1, true_jaccard(texts[src], copy), "edited"))
    for _ in range(copies):
        a, b = rng.sample(range(len(texts)), 2)
        pairs.append(LabelledPair(a, b, true_jaccard(texts[a], texts[b]), "unrelated"))
    return docs, pairs


def write_token_shards(
    tokens_dir: str | os.PathLike[str],
    docs: list[tuple[str, str, np.ndarray | list[int]]],
    num_shards: int = 2,
) -> Path:
    """Write ``(doc_id, split, ids)`` documents as a complete tokens directory.

    The same layout ``webtext tokenize`` produces (columns doc_id, split, n_tokens, tokens;
    ``_SUCCESS`` last), for tests, benchmarks and synthetic runs. Shards are written to a
    temporary name and renamed. ``ids`` should already end with <|endoftext|>.
    """
    root = Path(tokens_dir)
    root.mkdir(parents=True, exist_ok=True)
    schema = schemas.TOKENS
    for shard in range(num_shards):
        part = docs[shard::num_shards]
        arrays = [np.asarray(ids, dtype=np.uint16) for _, _, ids in part]
        offsets = np.zeros(len(arrays) + 1, dtype=np.int32)
        np.cumsum([len(a) for a in arrays], out=offsets[1:])
        values = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.uint16)
        table = pa.table(
            {
                "doc_id": pa.array([d for d, _, _ in part], pa.string()),
                "split": pa.array([s for _, s, _ in part], pa.string()),
                "n_tokens": pa.array([len(a) for a in arrays], pa.int64()),
                "tokens": pa.ListArray.from_arrays(pa.array(offsets), pa.array(values)),
            },
            schema=schema,
        )
        name = shards.shard_name(shard, num_shards)
        tmp = root / f"_tmp-{name}"
        pq.write_table(table, tmp, compression="zstd", write_page_checksum=True)
        os.replace(tmp, root / name)
    (root / "_SUCCESS").write_text("", encoding="utf-8")
    return root
