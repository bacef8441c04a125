"""Corpus documents -> token rows (plain Python; the Beam job in beam_jobs/tokenize_job.py
wraps it).

Every document of corpus/ becomes one row of tokens/: its ids followed by <|endoftext|>, as a
uint16 array. Texts are read from Parquet as raw bytes and decoded here, so a shard holding
invalid UTF-8 (a writer that skipped validation) costs only the bad documents, each counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from model.tokenizer import (
    ENCODER_FILE,
    GPT2_VOCAB_SIZE,
    MERGES_FILE,
    BPETokenizer,
    TokenizerFileError,
    load_tokenizer,
    read_file_bytes,
    tokenizer_location,
    train_bpe,
)
from pipeline.io import schemas, shards
from pipeline.io.stats import StageStats

UINT16_LIMIT = 1 << 16  # ids must be < 65,536 to fit the uint16 shards
CORPUS_COLUMNS = ["doc_id", "split", "text"]
TOKENS_PER_SPLIT = "tokens_per_split"
DOCS_PER_SPLIT = "docs_per_split"
log = logging.getLogger(__name__)


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
    """A batch's outcome: keyed rows for the shards and per-split totals for _stats.json."""

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


def corpus_columns(batch: pa.RecordBatch) -> tuple[list[str], list[str], list[bytes | None]]:
    """(doc_ids, splits, UTF-8 text bytes) of a corpus/ record batch (no UTF-8 check: done
    per document by decode_texts)."""
    text = batch.column("text").cast(pa.binary())
    return (
        batch.column("doc_id").to_pylist(),
        batch.column("split").to_pylist(),
        text.to_pylist(),
    )


def iter_corpus_batches(
    path: str, *, batch_size: int = 1024
) -> Iterator[tuple[list[str], list[str], list[bytes | None]]]:
    """(doc_ids, splits, UTF-8 text bytes) batches of one corpus/ shard, schema checked."""
    for batch in shards.iter_shard_batches(
        path, schemas.CORPUS, columns=CORPUS_COLUMNS, batch_size=batch_size
    ):
        yield corpus_columns(batch)


def token_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Token rows (tokenize_batch's, without their keys) as a table of the tokens/ schema,
    built column by column (the token arrays are copied once, into one buffer)."""
    arrays = [row["tokens"] for row in rows]
    offsets = np.zeros(len(arrays) + 1, dtype=np.int32)
    np.cumsum([len(a) for a in arrays], out=offsets[1:])
    values = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.uint16)
    return pa.table(
        {
            "doc_id": pa.array([row["doc_id"] for row in rows], pa.string()),
            "split": pa.array([row["split"] for row in rows], pa.string()),
            "n_tokens": pa.array([row["n_tokens"] for row in rows], pa.int64()),
            "tokens": pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.uint16())),
        },
        schema=schemas.TOKENS,
    )


class TokenizeBatches:
    """A corpus/ record batch -> its token rows as a tokens/ table, in input order, and the
    per-split totals (the per-batch function of the tokenize stage's writer,
    beam_jobs.stage_io.WriteShardsFromInputs). The tokenizer is loaded by ``setup``."""

    def __init__(self, tokenizer_dir: str) -> None:
        self.tokenizer_dir = tokenizer_dir
        self.tokenizer: BPETokenizer | None = None

    def setup(self) -> None:
        self.tokenizer = load_tokenizer(self.tokenizer_dir)

    def __call__(
        self, batch: pa.RecordBatch, stats: StageStats, where: str
    ) -> tuple[pa.Table, Counter]:
        if self.tokenizer is None:
            self.setup()
        doc_ids, splits, raw = corpus_columns(batch)
        out = tokenize_batch(self.tokenizer, doc_ids, splits, raw, stats, where)
        return token_table([row for _, row in out.rows]), out.totals


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


# ---- the tokenizer of a run (driver side, before the Beam pipeline) ----


def prepare_tokenizer(
    target: str,
    *,
    gpt2_files: str | None,
    corpus_dir: str,
    train_split: str = "train",
    vocab_size: int = GPT2_VOCAB_SIZE,
    min_frequency: int = 2,
    max_train_docs: int | None = None,
) -> BPETokenizer:
    """Put the tokenizer of a run into ``target`` (tokens/_tokenizer/) and return it: GPT-2's
    files copied byte for byte from ``gpt2_files``, or else a BPE trained on the corpus's
    ``train_split``. A resumed run reuses the one it saved (training is not repeated). Both
    ``target`` and ``gpt2_files`` may be local paths or object-store URIs (s3://...)."""
    target = tokenizer_location(target)
    if gpt2_files:
        source = tokenizer_location(gpt2_files)
        for name in (ENCODER_FILE, MERGES_FILE):
            data = read_file_bytes(shards.join(source, name))
            shards.write_bytes_atomic(shards.join(target, name), data)
        return load_tokenizer(target)
    reused = _saved_tokenizer(target)
    if reused is not None:
        return reused
    tokenizer = train_on_split(corpus_dir, train_split, vocab_size, min_frequency, max_train_docs)
    tokenizer.save(target)
    return load_tokenizer(target)


def _saved_tokenizer(target: str) -> BPETokenizer | None:
    """The tokenizer an earlier run of the job trained and saved, if both files are whole."""
    if not all(shards.exists(shards.join(target, name)) for name in (ENCODER_FILE, MERGES_FILE)):
        return None
    try:
        tokenizer = load_tokenizer(target)
    except TokenizerFileError as exc:  # killed between the two files: train again
        log.warning("%s; training again", exc)
        return None
    log.info("reusing the tokenizer trained by the earlier run: %s", tokenizer)
    return tokenizer


def train_on_split(
    corpus_dir: str,
    split: str,
    vocab_size: int,
    min_frequency: int,
    max_docs: int | None = None,
) -> BPETokenizer:
    """A byte-level BPE trained on one split of corpus/ (its first ``max_docs`` documents)."""
    skipped = StageStats()
    seen = [0]

    def texts() -> Iterator[str]:
        for text in iter_split_texts(corpus_dir, split, skipped, max_docs=max_docs):
            seen[0] += 1
            yield text

    log.info(
        "training a byte-level BPE (vocab %s) on %s split %r", f"{vocab_size:,}", corpus_dir, split
    )
    tokenizer = train_bpe(texts(), vocab_size, min_frequency=min_frequency)
    if seen[0] == 0:
        raise ValueError(
            f"{corpus_dir}: no usable documents in split {split!r} to train "
            "a tokenizer on; pass --gpt2-files DIR to use GPT-2's vocabulary instead"
        )
    if skipped.total_dropped:
        log.warning("tokenizer training skipped documents: %s", dict(skipped.dropped))
    if tokenizer.vocab_size < vocab_size:
        # Not a fault: BPE stops merging when no pair is frequent enough; the vocabulary is
        # complete (every byte is an id) and training uses its actual size.
        log.info(
            "BPE vocabulary: %s ids of the %s asked for, as no further pair of tokens occurs "
            "at least %d times in the train split (expected on a small corpus: every text "
            "still encodes, and training uses %s ids)",
            f"{tokenizer.vocab_size:,}",
            f"{vocab_size:,}",
            min_frequency,
            f"{tokenizer.vocab_size:,}",
        )
    return tokenizer
