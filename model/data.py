"""Token stream for training: read a split of ``tokens/`` into one array, serve batches.

``tokens/`` (written by ``webtext tokenize``) is a directory of Parquet shards with columns
``doc_id`` string, ``split`` string ('train' | 'val' | 'test'), ``n_tokens`` int64 and
``tokens`` list<uint16> (a document's ids followed by <|endoftext|>), ``_tokenizer/`` with
``encoder.json`` + ``vocab.bpe`` (``tokenizer/`` in older outputs: ``tokenizer_path``), and
``_SUCCESS`` once complete.

A split is read column-wise with pyarrow and flattened into one uint16 numpy array (no Python
loop over tokens). The array is cut into non-overlapping windows of ``seq_len + 1`` tokens
(inputs and shifted targets). Each epoch visits every window once in an order fixed by
``(seed, epoch)``; a global batch takes the next ``G`` windows of that order, and DDP rank r of
W, doing A micro-steps, takes the disjoint slice ``[(r*A + i) * mb, (r*A + i + 1) * mb)`` for
micro-step i. One process with A*W micro-steps therefore sees exactly the same windows per
optimizer step as W ranks with A each, and the data position is two integers (epoch,
cursor) that a checkpoint can store.

The reader lives here rather than in ``pipeline.io.shards`` so that ``model/`` needs only torch,
numpy and pyarrow.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

# Shard verification: pyarrow and the standard library only.
from pipeline.io.shard_verify import (
    JOB_FILE,
    ShardError,
    open_parquet,
    reading,
    stats_path,
    tokenizer_path,
    verified_shards,
)
from pipeline.io.stage_names import current_name

SPLITS = ("train", "val", "test")
TOKENIZER_FILES = ("encoder.json", "vocab.bpe")


class TokenDataError(ValueError):
    """The tokens directory cannot be used for training: missing, incomplete or wrong."""


def list_token_shards(tokens_dir: str | os.PathLike[str]) -> list[Path]:
    """The Parquet shards of a complete tokens directory, sorted by name, checked against
    the record in its _stats.json (see ``pipeline.io.shard_verify``)."""
    root = Path(tokens_dir)
    if not root.is_dir():
        raise TokenDataError(f"tokens directory {root} does not exist")
    if not (root / "_SUCCESS").exists():
        raise TokenDataError(
            f"tokens directory {root} is incomplete (no _SUCCESS): rerun `webtext tokenize`"
        )
    try:  # the shards _stats.json records, their sizes, footers and row counts
        verified_shards(str(root))
    except ShardError as exc:
        raise TokenDataError(str(exc)) from exc
    shards = sorted(p for p in root.glob("*.parquet") if not p.name.startswith("_"))
    if not shards and _records_out(root) == 0:
        raise TokenDataError(
            f"tokens directory {root} holds 0 documents (tokenize read an empty corpus; "
            f"`webtext stats {root.parent}` shows where they went): nothing to train on"
        )
    if not shards:
        raise TokenDataError(f"tokens directory {root} holds no *.parquet shards")
    return shards


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """An error reading token shard ``path`` (damaged page, truncated file) as one
    TokenDataError naming it and the command that rebuilds it."""
    try:
        with reading(str(path)):
            yield
    except ShardError as exc:
        raise TokenDataError(str(exc)) from exc


def _records_out(root: Path) -> int | None:
    """records_out of the directory's _stats.json, None when it cannot be read."""
    try:
        text = Path(stats_path(str(root))).read_text(encoding="utf-8")
        value = json.loads(text).get("records_out")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


# The pipeline's main line: (stage, the command writing it, placeholder for its directory).
_MAIN_LINE = (
    ("links", "webtext links", "LINKS"),
    ("pages", "webtext fetch", "PAGES"),
    ("docs", "webtext extract", "DOCS"),
    ("corpus", "webtext dedup", "CORPUS"),
    ("tokens", "webtext tokenize", "TOKENS"),
)
# Directories off the main line -> what they hold.
_OTHER_WRITERS = {
    "dups": "duplicates removed by webtext dedup",
    "overlap": "output of webtext overlap",
}
# A column only one stage's shards have -> that stage (checked in this order).
_STAGE_COLUMNS = (
    ("tokens", "tokens"),
    ("keeper_id", "dups"),
    ("test_set", "overlap"),
    ("split", "corpus"),
    ("text", "docs"),
    ("body", "pages"),
    ("url_key", "links"),
)


def _stage_from_files(root: Path) -> str | None:
    for path in (root / JOB_FILE, Path(stats_path(str(root)))):
        try:
            stage = json.loads(path.read_text(encoding="utf-8")).get("stage")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(stage, str):
            return current_name(stage)  # an older version's name too
    return None


def _stage_from_schema(root: Path) -> str | None:
    for path in sorted(root.glob("*.parquet"))[:1]:
        try:
            names = set(pq.read_schema(path).names)
        except (OSError, pa.ArrowException):
            return None
        return next((stage for column, stage in _STAGE_COLUMNS if column in names), None)
    return None


def directory_stage(directory: str | os.PathLike[str]) -> str | None:
    """Which stage wrote ``directory`` (``links`` ... ``tokens``, ``dups``, ``overlap``, or
    ``train`` for a run directory), from its _job.json, _stats.json or shard columns."""
    root = Path(directory)
    if not root.is_dir():
        return None
    if (root / "checkpoint.pt").exists() or (root / "metrics.jsonl").exists():
        return "train"
    return _stage_from_files(root) or _stage_from_schema(root)


def other_stage_message(directory: str | os.PathLike[str]) -> str | None:
    """One line saying what to run when ``directory`` is another stage's output rather than a
    tokens directory (e.g. a corpus: tokenize it first); None for a tokens directory or one
    that cannot be told."""
    stage = directory_stage(directory)
    order = [name for name, _, _ in _MAIN_LINE]
    if stage in (None, "tokens"):
        return None
    if stage == "train":
        return (
            f"{directory} is a training run directory (output of webtext train); pass the "
            "tokens directory it was trained on (or --init-from it to start from its weights)"
        )
    if stage not in order:
        writer = _OTHER_WRITERS.get(stage)
        made_by = f" ({writer})" if writer else ""
        article = "an" if stage[:1] in "aeiou" else "a"
        return (
            f"{directory} is {article} {stage} directory{made_by}, not a tokens directory; "
            "pass the output of `webtext tokenize`"
        )
    i = order.index(stage)
    steps, source = [], str(directory)
    for _, command, out in _MAIN_LINE[i + 1 :]:
        steps.append(f"`{command} {source} --out {out}`")
        source = out
    run = steps[0] if len(steps) == 1 else ", ".join(steps[:-1]) + " then " + steps[-1]
    return f"{directory} is a {stage} directory (output of {_MAIN_LINE[i][1]}); run {run} first"


def _check_schema(path: Path, schema: pa.Schema) -> None:
    for name, want in (("split", "string"), ("tokens", "list<uint16>")):
        if name not in schema.names:
            hint = other_stage_message(path.parent)
            raise TokenDataError(hint or f"{path}: missing column {name!r} (has {schema.names})")
        typ = schema.field(name).type
        ok = (
            pa.types.is_string(typ) or pa.types.is_large_string(typ)
            if name == "split"
            else (pa.types.is_list(typ) or pa.types.is_large_list(typ))
            and pa.types.is_uint16(typ.value_type)
        )
        if not ok:
            raise TokenDataError(f"{path}: column {name!r} has type {typ}, expected {want}")


def read_split(
    tokens_dir: str | os.PathLike[str], split: str, vocab_size: int | None = None
) -> np.ndarray:
    """All tokens of ``split`` in shard order, as one uint16 array.

    Raises :class:`TokenDataError` naming the shard when a column is missing or mistyped, or
    when an id is outside ``[0, vocab_size)`` (shards of another tokenizer).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    parts: list[np.ndarray] = []
    for path in list_token_shards(tokens_dir):
        with _reading(path):
            pf = open_parquet(str(path))  # verifies page CRCs where the writer stored them
        _check_schema(path, pf.schema_arrow)
        with _reading(path):
            table = pf.read(columns=["split", "tokens"])
        table = table.filter(pc.equal(table.column("split"), split))
        if table.num_rows == 0:
            continue
        values = table.column("tokens").combine_chunks().flatten()
        if vocab_size is not None and len(values):
            top = pc.max(values).as_py()
            if top >= vocab_size:
                raise TokenDataError(
                    f"{path}: token id {top} is outside the vocabulary of {vocab_size} "
                    "(shards of another tokenizer, or a wrong --vocab-size)"
                )
        parts.append(values.to_numpy(zero_copy_only=False).astype(np.uint16, copy=False))
    if not parts:
        return np.zeros(0, dtype=np.uint16)
    return np.concatenate(parts)


def tokenizer_vocab_size(tokens_dir: str | os.PathLike[str]) -> int | None:
    """Entries of ``tokens_dir/_tokenizer/encoder.json`` (``tokenizer/`` in older outputs),
    or None when there is no tokenizer."""
    path = Path(tokenizer_path(str(tokens_dir))) / "encoder.json"
    if not path.exists():
        return None
    try:
        encoder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TokenDataError(f"{path}: not a readable JSON vocabulary ({exc})") from exc
    if not isinstance(encoder, dict) or not encoder:
        raise TokenDataError(f"{path}: expected a JSON object mapping tokens to ids")
    return len(encoder)


def tokenizer_fingerprint(tokenizer_dir: str | os.PathLike[str]) -> str | None:
    """sha256 over the tokenizer files, so a checkpoint can refuse shards of another tokenizer."""
    root = Path(tokenizer_dir)
    present = [root / name for name in TOKENIZER_FILES if (root / name).exists()]
    if not present:
        return None
    digest = hashlib.sha256()
    for path in present:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass
class DataPosition:
    """Where the training stream stands: the epoch and the next window of its order."""

    epoch: int = 0
    cursor: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor}


class TokenBatches:
    """Global batches of windows from one token array, sampled without replacement per epoch.

    ``next_step()`` returns this rank's micro-batches for one optimizer step, as a list of
    ``(x, y)`` int64 tensors of shape (micro_batch, seq_len), and advances the position.
    """

    def __init__(
        self,
        tokens: np.ndarray,
        seq_len: int,
        micro_batch: int,
        grad_accum: int,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        position: DataPosition | None = None,
        device: torch.device | str = "cpu",
        name: str = "train",
    ) -> None:
        self.tokens = tokens
        self.seq_len = seq_len
        self.micro_batch = micro_batch
        self.grad_accum = grad_accum
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.device = torch.device(device)
        self.position = position or DataPosition()
        self.num_windows = max(0, (len(tokens) - 1) // seq_len)
        self.global_batch = micro_batch * grad_accum * world_size
        if self.num_windows < self.global_batch:
            raise TokenDataError(
                f"split {name!r} has {len(tokens):,} tokens = {self.num_windows:,} sequences of "
                f"{seq_len + 1}, fewer than one global batch of {self.global_batch} sequences; "
                "lower --batch-tokens or --seq-len, or tokenize more text"
            )
        self._order_epoch = -1
        self._order = np.zeros(0, dtype=np.int64)
        self._offsets = np.arange(seq_len + 1, dtype=np.int64)

    def _order_for(self, epoch: int) -> np.ndarray:
        if epoch != self._order_epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._order = rng.permutation(self.num_windows)
            self._order_epoch = epoch
        return self._order

    def windows(self, starts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) for windows beginning at token offsets ``starts`` (one fancy-index gather)."""
        block = self.tokens[starts[:, None] + self._offsets].astype(np.int64)
        data = torch.from_numpy(block)
        if self.device.type == "cuda":
            data = data.pin_memory().to(self.device, non_blocking=True)
        return data[:, :-1], data[:, 1:]

    def next_step(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        pos = self.position
        if pos.cursor + self.global_batch > self.num_windows:
            pos.epoch, pos.cursor = pos.epoch + 1, 0  # drop the epoch's incomplete last batch
        order = self._order_for(pos.epoch)
        batches = []
        for i in range(self.grad_accum):
            first = pos.cursor + (self.rank * self.grad_accum + i) * self.micro_batch
            ids = order[first : first + self.micro_batch]
            batches.append(self.windows(ids * self.seq_len))
        pos.cursor += self.global_batch
        return batches


def eval_batches(
    tokens: np.ndarray,
    seq_len: int,
    micro_batch: int,
    max_batches: int,
    rank: int = 0,
    world_size: int = 1,
) -> list[np.ndarray]:
    """This rank's share of a fixed evaluation set: the first windows of the split, in order.

    The set is the first ``max_batches * micro_batch`` windows (rounded down to a multiple of
    the process count) whatever the number of ranks, so validation losses of different steps,
    runs and process counts are comparable; every rank gets the same number of batches, which
    sharded (FSDP) forward passes need. Returns arrays of window start offsets.
    """
    num_windows = max(0, (len(tokens) - 1) // seq_len)
    total = min(num_windows, max_batches * micro_batch) // world_size * world_size
    starts = np.arange(total, dtype=np.int64)[rank::world_size] * seq_len
    return [starts[i : i + micro_batch] for i in range(0, len(starts), micro_batch)]


def load_split_cached(
    tokens_dir: str | os.PathLike[str],
    split: str,
    cache_dir: str | os.PathLike[str],
    vocab_size: int | None = None,
    build: bool = True,
) -> np.ndarray:
    """``read_split`` through a flat uint16 file in ``cache_dir``, returned as a memmap.

    The file is built once (atomically) and then memory-mapped, so every DDP process on a node
    shares one copy of the split in the page cache instead of holding its own. A sidecar JSON
    records the shards (names, sizes, mtimes) and the vocabulary it was built from; a change
    rebuilds it. With ``build=False`` (non-builder ranks) the file must already be current.
    """
    shards = list_token_shards(tokens_dir)
    source = {
        "split": split,
        "vocab_size": vocab_size,
        "shards": [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in shards],
    }
    cache = Path(cache_dir)
    data_path, meta_path = cache / f"{split}.u16", cache / f"{split}.json"
    current = (
        meta_path.exists()
        and data_path.exists()
        and json.loads(meta_path.read_text(encoding="utf-8")) == source
    )
    if not current:
        if not build:
            raise TokenDataError(f"token cache {data_path} is missing or stale")
        tokens = read_split(tokens_dir, split, vocab_size)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = data_path.with_name(f".{data_path.name}.tmp-{os.getpid()}")
        tokens.tofile(tmp)
        os.replace(tmp, data_path)
        tmp_meta = meta_path.with_name(f".{meta_path.name}.tmp-{os.getpid()}")
        tmp_meta.write_text(json.dumps(source), encoding="utf-8")
        os.replace(tmp_meta, meta_path)
    if data_path.stat().st_size == 0:
        return np.zeros(0, dtype=np.uint16)
    return np.memmap(data_path, dtype=np.uint16, mode="r")
