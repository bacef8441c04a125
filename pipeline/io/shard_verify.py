"""Checking a finished stage directory against what its writer recorded, before reading it.

A stage's _stats.json records its shards: ``"shards": {name: rows}`` and, since shard
verification, ``"shard_files": {name: {"bytes": size, "footer_crc32": "%08x"}}``. A reader of
a finished directory (``verified_shards``) refuses it, naming the file, when

* a recorded shard is missing, or a shard file is there that the record does not name;
* a shard's size differs from the recorded size (truncated, appended to, replaced);
* a shard's Parquet footer cannot be read (magic bytes, thrift), its CRC-32 differs from the
  recorded one, or the row count it declares differs from the recorded count.

This reads the last few KiB of each shard (the footer), never the data: whole-file checksums
on every read would read the whole corpus twice (once to check, once to use), which at
WebText scale (tens of GB per stage, read by several stages) costs more than the stages. Data
pages are instead covered while they are read: shards are written with a CRC-32 per page
(Parquet's page checksum) and readers verify it (``page_checksum_verification``), so a
flipped bit in a data page is an error rather than a silently different document. Any error
reading a shard (``ZSTD decompression failed``, ``Unexpected end of stream``, a page CRC
mismatch) becomes one ``ShardError`` naming the shard, its directory and the command that
rebuilds it (``damaged``/``reading``).

What the record lacks is not checked: directories written before sizes and footer CRCs were
recorded are checked by names and row counts, those without a ``shards`` record (hand-made
test directories) only by their footers being readable.

It lives in ``model/`` and uses only pyarrow and the standard library because the token
loader (``model.data``) needs it and ``model`` never imports ``pipeline`` (a training machine
has torch, numpy and pyarrow only); ``pipeline.io.shards`` re-exports ``ShardError``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline.io import object_store
from pipeline.io.stage_names import command_for

SUCCESS_MARKER = "_SUCCESS"
# Every name in a stage directory that is not a data shard starts with "_", so Arrow, pandas,
# Spark, Hadoop and Polars read the directory as a dataset (they skip "_" and "." names).
STATS_FILE = "_stats.json"
# The name versions before that wrote; read (after STATS_FILE), never written.
LEGACY_STATS_FILE = "stats.json"
STATS_FILES = (STATS_FILE, LEGACY_STATS_FILE)
JOB_FILE = "_job.json"
SHARD_SUFFIX = ".parquet"
TMP_PREFIX = "_tmp-"
# tokens/: the tokenizer's files (encoder.json, vocab.bpe) beside the shards; older outputs
# hold them in LEGACY_TOKENIZER_DIR, which readers that recurse into sub-directories choke on.
TOKENIZER_DIR = "_tokenizer"
LEGACY_TOKENIZER_DIR = "tokenizer"
# _stats.json key of the per-shard file record (next to "shards": {name: rows}).
FILES_KEY = "shard_files"
PARQUET_MAGIC = b"PAR1"


class ShardError(Exception):
    """A shard directory is unusable: wrong schema, missing files, foreign job."""


def resolve(path: str) -> tuple[pafs.FileSystem, str]:
    """Local path or URI -> (pyarrow filesystem, path on it): pipeline.io.object_store."""
    return object_store.resolve(path)


def _join(directory: str, name: str) -> str:
    return directory.rstrip("/") + "/" + name


def _split(path: str) -> tuple[str, str]:
    directory, _, name = str(path).rstrip("/").rpartition("/")
    return directory or ".", name


def _read_json(path: str) -> Any:
    fs, p = resolve(path)
    try:
        with fs.open_input_stream(p, compression=None) as f:
            return json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError):
        return None


def stats_name(names: Iterable[str]) -> str | None:
    """Which stats file a directory listing (base names) holds: STATS_FILE, else the
    LEGACY_STATS_FILE of an older output, else None."""
    present = set(names)
    return next((name for name in STATS_FILES if name in present), None)


def stats_path(directory: str) -> str:
    """The one place that names a stage directory's stats file: ``DIR/_stats.json``, or
    ``DIR/stats.json`` when only that is there (an output written before the rename). Readers
    open this path; writers always write ``DIR/_stats.json`` (``STATS_FILE``)."""
    fs, d = resolve(directory)
    for name in STATS_FILES:
        if fs.get_file_info(_join(d, name)).type == pafs.FileType.File:
            return _join(directory, name)
    return _join(directory, STATS_FILE)


def tokenizer_path(tokens_dir: str) -> str:
    """A tokens directory's tokenizer folder: ``_tokenizer/``, or ``tokenizer/`` when only
    that is there (an older output); ``_tokenizer/`` (where it is written) when neither is."""
    fs, d = resolve(tokens_dir)
    for name in (TOKENIZER_DIR, LEGACY_TOKENIZER_DIR):
        if fs.get_file_info(_join(d, name)).type == pafs.FileType.Directory:
            return _join(tokens_dir, name)
    return _join(tokens_dir, TOKENIZER_DIR)


def rebuild_hint(directory: str) -> str:
    """'rerun `webtext extract` with --overwrite to rebuild DIR' from the directory's record."""
    stage = None
    for path in (stats_path(directory), _join(directory, JOB_FILE)):
        data = _read_json(path)
        if isinstance(data, dict) and isinstance(data.get("stage"), str):
            stage = data["stage"]
            break
    command = command_for(stage or "")
    if command is None:
        return f"rerun the stage that wrote {directory} with --overwrite to rebuild it"
    return f"rerun `webtext {command}` with --overwrite to rebuild {directory}"


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def damaged(path: str, exc: BaseException | str) -> ShardError:
    """The one-line error for a shard that cannot be read."""
    directory, name = _split(path)
    reason = exc if isinstance(exc, str) else _reason(exc)
    return ShardError(
        f"shard {name} of {directory} is damaged ({reason}); {rebuild_hint(directory)}"
    )


@contextmanager
def reading(path: str) -> Iterator[None]:
    """Turn an error reading shard ``path`` (IO, decompression, page CRC, thrift) into a
    ShardError naming it. Wrap only the reading, not the use of what was read."""
    try:
        yield
    except ShardError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise damaged(path, exc) from exc


def open_parquet(f: Any) -> pq.ParquetFile:
    """A ParquetFile that verifies page CRCs where the writer stored them."""
    return pq.ParquetFile(f, page_checksum_verification=True)


@dataclass(frozen=True)
class ShardFile:
    """What is recorded of one shard file."""

    bytes: int
    footer_crc32: str
    rows: int

    def record(self) -> dict[str, Any]:
        return {"bytes": self.bytes, "footer_crc32": self.footer_crc32}


def _footer_crc32(f: Any, size: int) -> str:
    if size < 12:
        raise ShardError(f"{size} bytes, too short for a Parquet file")
    f.seek(size - 8)
    tail = f.read(8)
    if len(tail) != 8 or tail[4:] != PARQUET_MAGIC:
        raise ShardError("Parquet magic bytes not found at its end: truncated or not Parquet")
    length = int.from_bytes(tail[:4], "little")
    if length > size - 12:
        raise ShardError(f"footer length {length} exceeds the file ({size} bytes)")
    f.seek(size - 8 - length)
    return f"{zlib.crc32(f.read(length)):08x}"


def inspect_shard(
    path: str,
    schema_check: Callable[[str, pa.Schema], None] | None = None,
) -> tuple[ShardFile, pa.Schema]:
    """Size, footer CRC-32 and row count of one shard, reading its footer only. Raises
    ShardError (via ``damaged``) when the footer cannot be read."""
    fs, p = resolve(path)
    try:
        with fs.open_input_file(p) as f:
            size = f.size()
            crc = _footer_crc32(f, size)
            f.seek(0)
            pf = pq.ParquetFile(f)
            facts = ShardFile(size, crc, pf.metadata.num_rows)
            schema = pf.schema_arrow
    except ShardError as exc:
        raise damaged(path, str(exc)) from exc
    except (OSError, pa.ArrowException) as exc:
        raise damaged(path, exc) from exc
    if schema_check is not None:
        schema_check(path, schema)
    return facts, schema


def record_files(directory: str, names: list[str]) -> dict[str, Any]:
    """The _stats.json entry a writer adds for its shards: ``{FILES_KEY: {name: {...}}}``."""
    names = sorted(names)
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(names)))) as pool:
        facts = pool.map(lambda name: inspect_shard(_join(directory, name))[0], names)
        return {FILES_KEY: {name: f.record() for name, f in zip(names, facts, strict=True)}}


def _present(directory: str) -> dict[str, int]:
    fs, d = resolve(directory)
    if fs.get_file_info(d).type == pafs.FileType.NotFound:
        return {}
    infos = fs.get_file_info(pafs.FileSelector(d, recursive=False))
    return {
        i.base_name: i.size
        for i in sorted(infos, key=lambda i: i.base_name)
        if i.type == pafs.FileType.File
        and i.base_name.endswith(SHARD_SUFFIX)
        and not i.base_name.startswith(TMP_PREFIX)
    }


def _int_map(value: Any) -> dict[str, int] | None:
    if not isinstance(value, dict):
        return None
    return {str(k): v for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)}


def verified_shards(
    directory: str,
    schema_check: Callable[[str, pa.Schema], None] | None = None,
    *,
    threads: int = 16,
) -> list[str]:
    """The shard paths of a finished stage directory, sorted, after checking them against the
    record in its _stats.json (see the module docstring). ``schema_check(path, schema)`` is
    called for every shard with the schema read from the same footer. Raises ShardError
    naming the directory (no _SUCCESS) or the shard."""
    if not _read_exists(_join(directory, SUCCESS_MARKER)):
        object_store.check_bucket_exists(directory)  # a missing bucket, said as such
        raise ShardError(
            f"{directory}: no {SUCCESS_MARKER} marker; the stage that writes it did not finish "
            "(rerun it: it resumes)"
        )
    present = _present(directory)
    stats = _read_json(stats_path(directory))
    stats = stats if isinstance(stats, dict) else {}
    rows = _int_map(stats.get("shards"))
    files = stats.get(FILES_KEY) if isinstance(stats.get(FILES_KEY), dict) else {}
    hint = rebuild_hint(directory)
    if rows is not None:
        missing = sorted(set(rows) - set(present))
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise ShardError(
                f"shard {missing[0]}{more} of {directory} is missing (_stats.json records "
                f"{len(rows)} shards, {len(rows) - len(missing)} of them are there); {hint}"
            )
        extra = sorted(set(present) - set(rows))
        if extra:
            more = f" and {len(extra) - 1} more" if len(extra) > 1 else ""
            raise ShardError(
                f"{directory} holds {extra[0]}{more}, a shard its _stats.json does not record "
                f"(left by another run or copied in?); remove it, or {hint}"
            )
    for name, size in present.items():
        want = files.get(name, {}).get("bytes") if isinstance(files.get(name), dict) else None
        if isinstance(want, int) and size is not None and size != want:
            raise damaged(
                _join(directory, name),
                f"{size:,} bytes where _stats.json records {want:,}: truncated or replaced",
            )
    paths = [_join(directory, name) for name in present]

    def check(path: str) -> None:
        name = _split(path)[1]
        facts, _ = inspect_shard(path, schema_check)
        record = files.get(name) if isinstance(files.get(name), dict) else {}
        crc = record.get("footer_crc32")
        if isinstance(crc, str) and crc != facts.footer_crc32:
            raise damaged(path, f"footer CRC-32 {facts.footer_crc32} where _stats.json "
                                f"records {crc}")  # fmt: skip
        if rows is not None and facts.rows != rows[name]:
            raise damaged(path, f"its footer counts {facts.rows:,} rows where _stats.json "
                                f"records {rows[name]:,}")  # fmt: skip

    if len(paths) > 1 and threads > 1:  # remote stores: footers are round trips
        with ThreadPoolExecutor(max_workers=min(threads, len(paths))) as pool:
            list(pool.map(check, paths))  # re-raises the first failure in shard order
    else:
        for path in paths:
            check(path)
    return paths


def _read_exists(path: str) -> bool:
    fs, p = resolve(path)
    return fs.get_file_info(p).type != pafs.FileType.NotFound
