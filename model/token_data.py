"""Read token shards (tokens/ written by `webtext tokenize`) as flat uint16 arrays.

A split is the concatenation, in shard order and row order, of every document's ids (each
ending with <|endoftext|>). Only Arrow and numpy touch the ids: no Python work per token.
Imports pyarrow and numpy only, so the trainer can use it without Beam.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

TOKENS_COLUMN = "tokens"
SPLIT_COLUMN = "split"
SUCCESS_MARKER = "_SUCCESS"
TOKENIZER_DIR = "tokenizer"


def shard_paths(tokens_dir: str | os.PathLike) -> list[Path]:
    """The finished Parquet shards of a tokens/ directory, sorted (temporary files skipped)."""
    d = Path(tokens_dir)
    if not (d / SUCCESS_MARKER).exists():
        raise FileNotFoundError(
            f"{d}: no {SUCCESS_MARKER} marker: not a finished tokens/ directory "
            "(run `webtext tokenize`; a killed run resumes when rerun)"
        )
    return sorted(p for p in d.glob("part-*.parquet") if not p.name.startswith("_tmp-"))


def _flatten(column: pa.ChunkedArray) -> np.ndarray:
    parts = [chunk.flatten().to_numpy(zero_copy_only=False) for chunk in column.chunks]
    if not parts:
        return np.zeros(0, dtype=np.uint16)
    return np.concatenate(parts).astype(np.uint16, copy=False)


def load_split_tokens(tokens_dir: str | os.PathLike, split: str) -> np.ndarray:
    """Every token of ``split`` (train / val / test) as one uint16 array.

    Rows of the split are selected with Arrow's filter and the ``tokens`` lists flattened by
    Arrow; an unknown split is an error naming the splits present.
    """
    pieces: list[np.ndarray] = []
    seen: set[str] = set()
    for path in shard_paths(tokens_dir):
        table = pq.read_table(path, columns=[SPLIT_COLUMN, TOKENS_COLUMN])
        tokens_type = table.schema.field(TOKENS_COLUMN).type
        if not (pa.types.is_list(tokens_type) and tokens_type.value_type == pa.uint16()):
            raise ValueError(f"{path}: column 'tokens' is {tokens_type}, expected list<uint16>")
        seen.update(pc.unique(table.column(SPLIT_COLUMN)).to_pylist())
        selected = table.filter(pc.equal(table.column(SPLIT_COLUMN), split))
        pieces.append(_flatten(selected.column(TOKENS_COLUMN)))
    if split not in seen:
        raise ValueError(
            f"{tokens_dir}: no documents in split {split!r} (splits present: {sorted(seen)})"
        )
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint16)


def split_token_counts(tokens_dir: str | os.PathLike) -> dict[str, int]:
    """Tokens per split as recorded in stats.json by the tokenize stage."""
    stats = json.loads((Path(tokens_dir) / "stats.json").read_text(encoding="utf-8"))
    return {k: int(v) for k, v in stats.get("tokens_per_split", {}).items()}


def tokenizer_dir(tokens_dir: str | os.PathLike) -> Path:
    """Where the stage saved the tokenizer its ids belong to (encoder.json + vocab.bpe)."""
    return Path(tokens_dir) / TOKENIZER_DIR
