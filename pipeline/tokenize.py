"""Corpus documents -> token rows (plain Python; the Beam job in beam_jobs/tokenize_job.py
wraps it).

Every document of corpus/ becomes one row of tokens/: its ids followed by <|endoftext|>, as a
uint16 array. Texts are read from Parquet as raw bytes and decoded here, so a shard holding
invalid UTF-8 (a writer that skipped validation) costs only the bad documents, each counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from model.tokenizer import BPETokenizer
from pipeline.io import schemas, shards
from pipeline.io.stats import StageStats

UINT16_LIMIT = 1 << 16  # ids must be < 65,536 to fit the uint16 shards
CORPUS_COLUMNS = ["doc_id", "split", "text"]
TOKENS_PER_SPLIT = "tokens_per_split"
DOCS_PER_SPLIT = "docs_per_split"


def check_fits_uint16(tokenizer: BPETokenizer, where: str) -> None:
    """Refuse a vocabulary whose ids do not fit the uint16 shards."""
    if tokenizer.vocab_size > UINT16_LIMIT:
        raise ValueError(
            f"{where}: vocabulary of {tokenizer.vocab_size:,} ids does not fit uint16 token "
            f"shards (at most {UINT16_LIMIT:,} ids, 0..65535); use a smaller --vocab-size"
        )


def row_key(split: str, doc_id: str) -> str:
    """Shard key: sorts a shard by split first, so each split is one contiguous run."""
    return f"{split}\x00{doc_id}"


@dataclass
class Batch:
    """A batch's outcome: keyed rows for the shards and per-split totals for stats.json."""

    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    totals: Counter = field(default_factory=Counter)  # (group, split) -> count


def decode_texts(
    doc_ids: list[str], raw_texts: list[bytes | None], stats: StageStats, where: str
) -> list[str | None]:
    """UTF-8 bytes -> str; invalid or empty documents become None and are counted."""
    texts: list[str | None] = []
    for doc_id, raw in zip(doc_ids, raw_texts, strict=True):
        if not raw:
            stats.drop("empty_text")
            texts.append(None)
            continue
        try:
            texts.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            stats.drop("invalid_utf8")
            stats.error(
                f"{where}: document {doc_id}: invalid UTF-8 at byte {exc.start} "
                f"({raw[exc.start : exc.start + 4]!r}); document skipped"
            )
            texts.append(None)
    return texts


def tokenize_batch(
    tokenizer: BPETokenizer,
    doc_ids: list[str],
    splits: list[str],
    raw_texts: list[bytes | None],
    stats: StageStats,
    where: str,
) -> Batch:
    """Encode a batch of corpus documents (all cores) into token rows."""
    stats.records_in += len(doc_ids)
    texts = decode_texts(doc_ids, raw_texts, stats, where)
    keep = [i for i, t in enumerate(texts) if t is not None]
    encoded = tokenizer.encode_batch([texts[i] for i in keep])
    out = Batch()
    eot = tokenizer.eot_id
    for i, ids in zip(keep, encoded, strict=True):
        tokens = np.empty(len(ids) + 1, dtype=np.uint16)
        tokens[:-1] = ids
        tokens[-1] = eot
        split = splits[i]
        out.rows.append(
            (
                row_key(split, doc_ids[i]),
                {"doc_id": doc_ids[i], "split": split, "n_tokens": len(tokens), "tokens": tokens},
            )
        )
        out.totals[(TOKENS_PER_SPLIT, split)] += len(tokens)
        out.totals[(DOCS_PER_SPLIT, split)] += 1
    stats.records_out += len(out.rows)
    return out


def iter_corpus_batches(
    path: str, *, batch_size: int = 1024
) -> Iterator[tuple[list[str], list[str], list[bytes | None]]]:
    """(doc_ids, splits, UTF-8 text bytes) batches of one corpus/ shard, schema checked."""
    for batch in shards.iter_shard_batches(
        path, schemas.CORPUS, columns=CORPUS_COLUMNS, batch_size=batch_size
    ):
        text = batch.column("text").cast(pa.binary())  # no UTF-8 check: done per document
        yield (
            batch.column("doc_id").to_pylist(),
            batch.column("split").to_pylist(),
            text.to_pylist(),
        )


def iter_split_texts(
    corpus_dir: str, split: str, stats: StageStats, *, max_docs: int | None = None
) -> Iterator[str]:
    """Decoded, non-empty texts of one split of corpus/, in shard order (tokenizer training).
    Skipped documents are counted in ``stats`` under the same reasons as tokenize_batch."""
    produced = 0
    for path in shards.verified_shards(corpus_dir, schemas.CORPUS):
        for doc_ids, splits, raw in iter_corpus_batches(path):
            chosen = [i for i, s in enumerate(splits) if s == split]
            ids = [doc_ids[i] for i in chosen]
            texts = decode_texts(ids, [raw[i] for i in chosen], stats, path)
            for text in texts:
                if text is None:
                    continue
                if max_docs is not None and produced >= max_docs:
                    return
                produced += 1
                yield text
