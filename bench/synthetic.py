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


def synthetic_docs_rows(
    prose_tar: str | Path,
    n_docs: int,
    *,
    seed: int = 0,
    sentences_per_doc: int = 24,
    exact_fraction: float = 0.03,
    near_fraction: float = 0.03,
    duplicate_id_fraction: float = 0.002,
) -> list[dict]:
    """``n_docs`` rows of the docs/ schema from real prose: each original document is
    ``sentences_per_doc`` sentences drawn at random from the Gutenberg books (so two originals
    share almost no shingle), plus planted duplicates: exact copies (case and punctuation
    changed), near copies (a few words edited: Jaccard ~0.8-0.95) and rows repeating a doc_id.
    Karma and first-seen times vary so keepers are chosen by rank."""
    import xxhash

    rng = random.Random(seed)
    sentences = [s for _, s in prose_sentences(prose_tar)]
    n_exact = int(n_docs * exact_fraction)
    n_near = int(n_docs * near_fraction)
    n_same_id = int(n_docs * duplicate_id_fraction)
    n_orig = max(1, n_docs - n_exact - n_near - n_same_id)

    def row(key: str, text: str) -> dict:
        doc_id = xxhash.xxh64_hexdigest(key.encode())
        url = f"https://example{rng.randrange(500)}.org/{key}"
        score = 3 + rng.randrange(200)
        return {
            "doc_id": doc_id,
            "url": url,
            "final_url": url,
            "domain": url.split("/")[2],
            "title": key,
            "text": text,
            "n_chars": len(text),
            "max_score": score,
            "total_score": score,
            "num_posts": 1,
            "subreddits": ["news"],
            "first_seen_utc": 1_120_000_000 + rng.randrange(10**7),
        }

    rows = [
        row(f"orig/{i}", " ".join(rng.choices(sentences, k=sentences_per_doc)))
        for i in range(n_orig)
    ]
    for i in range(n_exact):
        src = rows[rng.randrange(n_orig)]["text"]
        rows.append(row(f"exact/{i}", src.upper().replace(" , ", "; ")))
    for i in range(n_near):
        src = rows[rng.randrange(n_orig)]["text"]
        donor = rows[rng.randrange(n_orig)]["text"]
        rows.append(row(f"near/{i}", edit_copy(src, donor, rng, edits=1 + rng.randrange(3))))
    for _ in range(n_same_id):
        twin = dict(rows[rng.randrange(n_orig)])
        twin["text"] = twin["text"] + " " + rng.choice(sentences)
        rows.append(twin)
    return rows[:n_docs]


def write_docs_dir(
    directory: str | os.PathLike[str], rows: list[dict], num_shards: int = 8
) -> Path:
    """Write docs/ rows as a finished stage directory (by the stage writer's rule: shard by
    doc_id hash, sorted by doc_id; _stats.json with each shard's record, _SUCCESS last)."""
    from pipeline.io.shard_verify import record_files

    root = Path(directory)
    parts: dict[int, list[dict]] = {}
    for r in rows:
        parts.setdefault(shards.shard_index(r["doc_id"], num_shards), []).append(r)
    names = []
    for i in range(num_shards):
        name = shards.shard_name(i, num_shards)
        part = sorted(parts.get(i, []), key=lambda r: r["doc_id"])
        shards.write_shard(str(root), name, part, schemas.DOCS)
        names.append(name)
    data = {"records_in": len(rows), "records_out": len(rows), "stage": "docs"}
    data["shards"] = {n: len(parts.get(i, [])) for i, n in enumerate(names)}
    data.update(record_files(str(root), names))
    shards.finish_output(str(root), data)
    return root
