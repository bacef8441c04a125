"""Shard IO shared by every stage.

A stage's output is a directory holding:
  part-NNNNN-of-MMMMM.parquet   zstd-compressed Parquet shards, each written atomically
  _job.json                     what produced the directory (stage, parameters, inputs)
  _stats.json                   records in / out / dropped per reason (stats.json before)
  _SUCCESS                      written last; its presence means the directory is complete

Every name there but the shards starts with "_" (sub-directories too: tokens/_tokenizer/,
pages/_fetched/), so pandas, pyarrow.dataset, Spark and Polars read the directory as a dataset.

Records are assigned to shards by a stable hash of their key and sorted inside a shard, so a
rerun over the same input writes byte-identical shards: a shard that already exists after a
killed run is kept as is, a missing one is written, and no record can appear twice.

Paths may be local or any URI pyarrow.fs understands (gs://, s3://, hdfs://), configured as
Beam's FileSystems is (pipeline.io.object_store). On an object store "atomic" is the same
promise by other means: a shard is uploaded under a ``_tmp-`` name and then moved (a
server-side copy and a delete), so its final name never holds a partial object.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

# ShardError is raised and caught as shards.ShardError; the checks live in shard_verify.
from pipeline.io import object_store, shard_verify
from pipeline.io.locks import LOCK_FILE
from pipeline.io.shard_verify import (  # noqa: F401
    LEGACY_STATS_FILE,
    LEGACY_TOKENIZER_DIR,
    STATS_FILE,
    STATS_FILES,
    TOKENIZER_DIR,
    ShardError,
    damaged,
    reading,
    stats_name,
    stats_path,
    tokenizer_path,
)
from pipeline.io.stage_names import current_name

SUCCESS_MARKER = "_SUCCESS"
JOB_FILE = "_job.json"
SHARD_SUFFIX = ".parquet"
TMP_PREFIX = "_tmp-"


def resolve(path: str) -> tuple[pafs.FileSystem, str]:
    """The one filesystem entry point: a local path or URI (gs://, s3://, ...) -> (pyarrow
    filesystem, path on it); local paths are made absolute."""
    return shard_verify.resolve(path)


def is_directory(path: str) -> bool:
    fs, p = resolve(path)
    return fs.get_file_info(p).type == pafs.FileType.Directory


def join(directory: str, name: str) -> str:
    return directory.rstrip("/") + "/" + name


def shard_name(index: int, num_shards: int) -> str:
    return f"part-{index:05d}-of-{num_shards:05d}{SHARD_SUFFIX}"


def shard_index(key: str, num_shards: int) -> int:
    """Stable shard assignment (the same on every machine, process and Python version)."""
    import xxhash  # here, not at the top: readers (the trainer's machine) do without it

    return xxhash.xxh64_intdigest(key.encode("utf-8")) % num_shards


def exists(path: str) -> bool:
    fs, p = resolve(path)
    return fs.get_file_info(p).type != pafs.FileType.NotFound


@contextmanager
def naming(path: str) -> Iterator[None]:
    """pyarrow's OSErrors carry an errno but often no file name ("Error writing bytes to
    file"): re-raise them as ``OSError(errno, strerror, path)`` so the one-line message of a
    full disk or a read-only directory (pipeline.io.fs_errors) can say where."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None and exc.errno:
            raise OSError(exc.errno, os.strerror(exc.errno), path) from exc
        raise


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Write to a temporary sibling, then rename over the destination."""
    fs, p = resolve(path)
    parent, _, name = p.rpartition("/")
    with naming(path):
        fs.create_dir(parent, recursive=True)
        tmp = f"{parent}/{TMP_PREFIX}{uuid.uuid4().hex}-{name}"
        with fs.open_output_stream(tmp, compression=None) as out:
            out.write(data)
        fs.move(tmp, p)


def remove(path: str) -> bool:
    """Delete a file when it exists; whether it did."""
    fs, p = resolve(path)
    if fs.get_file_info(p).type == pafs.FileType.NotFound:
        return False
    fs.delete_file(p)
    return True


def read_text(path: str) -> str:
    fs, p = resolve(path)
    with fs.open_input_stream(p, compression=None) as f:
        return f.read().decode("utf-8")


def write_json_atomic(path: str, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def write_shard(
    directory: str,
    name: str,
    rows: Iterable[dict[str, Any]],
    schema: pa.Schema,
    *,
    row_group_size: int = 8192,
) -> int:
    """Write rows (dicts in schema order) as one zstd Parquet file, atomically. Returns rows written."""
    fs, d = resolve(directory)
    with naming(join(directory, name)):
        return _write_shard(fs, d, name, rows, schema, row_group_size)


def _write_shard(
    fs: pafs.FileSystem,
    d: str,
    name: str,
    rows: Iterable[dict[str, Any]],
    schema: pa.Schema,
    row_group_size: int,
) -> int:
    fs.create_dir(d, recursive=True)
    final = f"{d}/{name}"
    tmp = f"{d}/{TMP_PREFIX}{uuid.uuid4().hex}-{name}"
    count = 0
    with (
        fs.open_output_stream(tmp, compression=None) as sink,
        # A CRC-32 per page, verified by readers: a damaged data page is an error, not data.
        pq.ParquetWriter(sink, schema, compression="zstd", write_page_checksum=True) as writer,
    ):
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= row_group_size:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count += len(batch)
                batch = []
        if batch or count == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            count += len(batch)
    fs.move(tmp, final)
    return count


def shard_row_count(path: str) -> int:
    fs, p = resolve(path)
    with fs.open_input_file(p) as f:
        return pq.ParquetFile(f).metadata.num_rows


def list_shards(directory: str) -> list[str]:
    """Finished shard files (temporary files of a killed writer are ignored), sorted."""
    fs, d = resolve(directory)
    if fs.get_file_info(d).type == pafs.FileType.NotFound:
        return []
    infos = fs.get_file_info(pafs.FileSelector(d, recursive=False))
    names = sorted(
        i.base_name
        for i in infos
        if i.type == pafs.FileType.File
        and i.base_name.endswith(SHARD_SUFFIX)
        and not i.base_name.startswith(TMP_PREFIX)
    )
    return [join(directory, n) for n in names]


def validate_schema(path: str, actual: pa.Schema, expected: pa.Schema) -> None:
    """Every expected column present with the expected type; extra columns are allowed."""
    for field in expected:
        idx = actual.get_field_index(field.name)
        if idx < 0:
            raise ShardError(
                f"{path}: missing column '{field.name}' (expected {field.type}); "
                f"columns present: {', '.join(actual.names)}"
            )
        got = actual.field(idx).type
        if not got.equals(field.type):
            raise ShardError(f"{path}: column '{field.name}' has type {got}, expected {field.type}")


def require_complete(directory: str) -> None:
    if not exists(join(directory, SUCCESS_MARKER)):
        object_store.check_bucket_exists(directory)  # a missing bucket, said as such
        raise ShardError(
            f"{directory}: no {SUCCESS_MARKER} marker; the stage that writes it did not finish "
            "(rerun it: it resumes)"
        )


def verified_shards(directory: str, schema: pa.Schema | None = None) -> list[str]:
    """The shard files of a finished stage directory, checked against its _stats.json record
    (names, sizes, footer CRCs, row counts; footers only) and, given ``schema``, each
    shard's schema. Raises ShardError naming the directory or the shard."""
    check = None if schema is None else (lambda path, actual: validate_schema(path, actual, schema))
    return shard_verify.verified_shards(directory, check)


def iter_shard_batches(
    path: str,
    schema: pa.Schema,
    *,
    columns: Sequence[str] | None = None,
    batch_size: int = 8192,
) -> Iterator[pa.RecordBatch]:
    """Record batches of one shard file, schema checked, page CRCs verified; an error
    reading it (damaged page, truncated file) is one ShardError naming the shard."""
    fs, p = resolve(path)
    with reading(path):
        f = fs.open_input_file(p)
    with f:
        with reading(path):
            pf = shard_verify.open_parquet(f)
        validate_schema(path, pf.schema_arrow, schema)
        cols = list(columns) if columns is not None else schema.names
        batches = pf.iter_batches(batch_size=batch_size, columns=cols)
        while True:
            with reading(path):
                batch = next(batches, None)
            if batch is None:
                return
            yield batch


def iter_batches(
    directory: str,
    schema: pa.Schema,
    *,
    columns: Sequence[str] | None = None,
    batch_size: int = 8192,
    require_success: bool = True,
) -> Iterator[pa.RecordBatch]:
    """Stream record batches from every shard of a stage directory, checking the schema.
    A finished directory (``require_success``) is verified against its record first."""
    shards = verified_shards(directory, schema) if require_success else list_shards(directory)
    for path in shards:
        yield from iter_shard_batches(path, schema, columns=columns, batch_size=batch_size)


def read_rows(directory: str, schema: pa.Schema, **kwargs: Any) -> list[dict[str, Any]]:
    """All rows of a (small) stage directory as dicts. For tests, demos and reports."""
    rows: list[dict[str, Any]] = []
    for batch in iter_batches(directory, schema, **kwargs):
        rows.extend(batch.to_pylist())
    return rows


@dataclass(frozen=True)
class JobSpec:
    """What a stage run depends on. Two runs with equal specs produce identical output."""

    stage: str
    params: dict[str, Any]
    inputs: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "params": self.params, "inputs": self.inputs}


_FINGERPRINT = re.compile(r"(?s)(.*)#(-?\d+)")


def resolve_input(entry: str) -> str:
    """An input fingerprint ``PATH#SIZE`` with a local PATH made absolute (symlinks resolved),
    so a rerun that spells it differently (relative, another working directory) is the same
    run. URIs (gs://...) and entries that are not fingerprints (reddit: specs) stay as they are."""
    match = _FINGERPRINT.fullmatch(entry)
    if match is None or "://" in match.group(1):
        return entry
    return f"{os.path.realpath(match.group(1))}#{match.group(2)}"


def _legacy_match(old: str, new: str) -> bool:
    """An entry written before inputs were resolved (a relative PATH#SIZE, from a working
    directory we no longer know) matches a resolved one when the sizes agree and the old path
    is the tail of the new one."""
    old_match, new_match = _FINGERPRINT.fullmatch(old), _FINGERPRINT.fullmatch(new)
    if old_match is None or new_match is None or old_match.group(2) != new_match.group(2):
        return False
    old_path, new_path = old_match.group(1), new_match.group(1)
    if os.path.isabs(old_path) or "://" in old_path:
        return False
    tail = os.path.normpath(old_path)
    return not tail.startswith("..") and new_path.endswith("/" + tail)


def same_inputs(old: list[str], new: list[str]) -> bool:
    """Whether a _job.json's inputs (as any version wrote them) name the same files as a
    resolved input list."""
    if len(old) != len(new):
        return False
    resolved = [resolve_input(e) for e in old]
    if sorted(resolved) == sorted(new):
        return True
    unmatched = list(new)
    for entry, res in zip(old, resolved, strict=True):
        hit = next((n for n in unmatched if n == res or _legacy_match(entry, n)), None)
        if hit is None:
            return False
        unmatched.remove(hit)
    return True


def _same_job(previous: Any, current: dict[str, Any]) -> bool:
    if not isinstance(previous, dict) or not isinstance(previous.get("inputs"), list):
        return False
    rest = {k: v for k, v in previous.items() if k != "inputs"}
    if isinstance(rest.get("stage"), str):  # a stage recorded by an older version's name
        rest["stage"] = current_name(rest["stage"])
    return rest == {k: v for k, v in current.items() if k != "inputs"} and same_inputs(
        [str(e) for e in previous["inputs"]], current["inputs"]
    )


def _entries(fs: pafs.FileSystem, d: str) -> list[pafs.FileInfo]:
    """What a claimed directory holds, its lock file aside (pipeline.io.locks)."""
    if fs.get_file_info(d).type == pafs.FileType.NotFound:
        return []
    infos = fs.get_file_info(pafs.FileSelector(d, recursive=False))
    return [i for i in infos if i.base_name != LOCK_FILE]


def prepare_output(directory: str, spec: JobSpec, *, overwrite: bool = False) -> str:
    """Claim an output directory for a run (hold its pipeline.io.locks.output_lock around this
    and the whole run).

    Returns "complete" when a finished run with the same spec is already there (nothing to do),
    "resume" when an unfinished run with the same spec left shards behind, "fresh" otherwise.
    A directory holding another job's output is refused unless ``overwrite``. Input paths are
    compared resolved (see resolve_input), and _job.json records them resolved.
    """
    fs, d = resolve(directory)
    job_path = join(directory, JOB_FILE)
    spec = JobSpec(spec.stage, spec.params, [resolve_input(e) for e in spec.inputs])
    current = json.loads(json.dumps(spec.to_dict()))
    entries = _entries(fs, d)
    if entries and overwrite:
        with naming(directory):
            for info in entries:  # not delete_dir_contents: the lock file stays
                if info.type == pafs.FileType.Directory:
                    fs.delete_dir(info.path)
                else:
                    fs.delete_file(info.path)
        entries = []
    if entries:
        if not exists(job_path):
            raise ShardError(
                f"{directory}: exists, is not empty and was not written by webtext "
                "(no _job.json); choose another --out or pass --overwrite"
            )
        previous = json.loads(read_text(job_path))
        if not _same_job(previous, current):
            raise ShardError(
                f"{directory}: holds output of a different run "
                f"(stage/params/inputs differ: {previous} vs {spec.to_dict()}); "
                "choose another --out or pass --overwrite"
            )
        if previous != current:  # the same job, recorded by an older version (inputs unresolved,
            # an old stage name): recorded again as this version writes it
            write_json_atomic(job_path, current)
        return "complete" if exists(join(directory, SUCCESS_MARKER)) else "resume"
    write_json_atomic(job_path, spec.to_dict())
    return "fresh"


def clean_temporaries(directory: str) -> int:
    """Remove temporary files a killed writer left behind. Returns how many."""
    fs, d = resolve(directory)
    if fs.get_file_info(d).type == pafs.FileType.NotFound:
        return 0
    removed = 0
    for info in fs.get_file_info(pafs.FileSelector(d, recursive=False)):
        if info.base_name.startswith(TMP_PREFIX):
            fs.delete_file(info.path)
            removed += 1
    return removed


def reopen_output(directory: str) -> int:
    """Turn a finished stage directory back into an unfinished run of the same job, so it can
    be rebuilt: remove _SUCCESS first (a kill from then on leaves a resumable directory),
    then _stats.json (or an older output's stats.json) and the top-level shard files.
    _job.json and sub-directories (e.g. a ledger) stay. Returns how many shard files were
    removed."""
    fs, d = resolve(directory)
    for name in (SUCCESS_MARKER, *STATS_FILES):
        if exists(join(directory, name)):
            fs.delete_file(f"{d}/{name}")
    paths = list_shards(directory)
    for path in paths:
        fs.delete_file(resolve(path)[1])
    return len(paths)


def finish_output(directory: str, stats_dict: dict[str, Any]) -> None:
    """Write _stats.json, then _SUCCESS last. The stats.json an older version left in a
    directory this run resumed goes first: a stage directory holds one stats file."""
    remove(join(directory, LEGACY_STATS_FILE))
    write_json_atomic(join(directory, STATS_FILE), stats_dict)
    write_bytes_atomic(join(directory, SUCCESS_MARKER), b"")


def read_stats(directory: str) -> dict[str, Any]:
    """The decoded stats file of a stage directory (``stats_path``: either name)."""
    return json.loads(read_text(stats_path(directory)))
