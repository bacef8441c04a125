"""Reading a stage directory's shards inside a Beam pipeline, one shard file per element."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import apache_beam as beam
import pyarrow as pa

from pipeline.io import shards
from pipeline.io import stats as stats_mod


def check_stage_input(directory: str, schema: pa.Schema, what: str) -> list[str]:
    """The shard files of a finished stage directory, each checked against ``schema`` and
    against the shards its _stats.json records (names, sizes, footer CRCs, row counts: see
    ``pipeline.io.shard_verify``). Errors name the directory or shard and what is wrong before
    any work starts.

    A finished stage that wrote 0 records (every link failed to fetch, say) holds no shard
    and says so in _stats.json: that is a valid, empty input and the answer is ``[]`` (see
    ``empty_input_message``). No shard while _stats.json counts records is an error."""
    files = shards.verified_shards(directory, schema)
    if not files:
        written = _records_out(directory)
        if written != 0:
            counted = "no _stats.json" if written is None else f"_stats.json counts {written:,}"
            raise shards.ShardError(
                f"{directory}: {what} directory holds no shards but {counted} records "
                "(shards deleted or moved?); rerun the stage that writes it with --overwrite"
            )
    return files


def _read_stats(directory: str) -> dict[str, Any] | None:
    try:
        data = shards.read_stats(directory)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _records_out(directory: str) -> int | None:
    data = _read_stats(directory)
    value = None if data is None else data.get("records_out")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def empty_input_message(directory: str, what: str, output: str, action: str | None = None) -> str:
    """The one line a stage logs when its input holds 0 records, saying why from the input's
    _stats.json: 'pages/ holds 0 records (all 181 links failed: dns_error 181); writing an
    empty docs/'."""
    return stats_mod.empty_input_message(what, _read_stats(directory), output, action)


def read_shard_file(
    path: str, schema: pa.Schema, batch_size: int = 1024
) -> Iterable[dict[str, Any]]:
    for batch in shards.iter_shard_batches(path, schema, batch_size=batch_size):
        yield from batch.to_pylist()


class ReadShardRows(beam.DoFn):
    """Shard path -> its rows as dicts (columns of ``schema``)."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema

    def process(self, path: str) -> Iterable[dict[str, Any]]:
        yield from read_shard_file(path, self.schema)


# How a DoFn's exception looks once Beam has re-raised it: the same type with
# " [while running 'Step/Name']" appended (in-process runners), or a RuntimeError whose text
# holds the worker's traceback ending in "pipeline.io.shard_verify.ShardError: message ...".
_STEP_NOTE = re.compile(r"(?: \[while running '[^']*'\])+$")
_REMOTE = re.compile(r"(?:^|\s|\.)ShardError: (.+?)(?: \[while running '[^']*'\])*$", re.M)


def shard_error_from(exc: BaseException) -> shards.ShardError | None:
    """The ShardError a pipeline failed with, as its one-line message, or None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, shards.ShardError):
            text = str(current.args[0]) if current.args else str(current)
            return shards.ShardError(_STEP_NOTE.sub("", text))
        found = _REMOTE.findall(str(current))
        if found:
            return shards.ShardError(found[-1].strip())
        current = current.__cause__ or current.__context__
    return None


@contextmanager
def shard_errors_in_one_line() -> Iterator[None]:
    """Around running a pipeline (``with shard_errors_in_one_line(), beam.Pipeline(...) as
    p:``): a damaged shard found by a worker stops the command with the one-line ShardError
    the worker raised (naming the shard), not Beam's wrapped traceback of it. In-process
    runners re-raise the worker's exception; others (multi-process, Dataflow) a RuntimeError
    holding its traceback as text, from which the ShardError's message is taken."""
    beam_log = logging.getLogger("apache_beam.runners.common")
    beam_log.addFilter(_quiet_shard_errors)
    try:
        yield
    except Exception as exc:
        found = shard_error_from(exc)
        if found is None or (isinstance(exc, shards.ShardError) and str(found) == str(exc)):
            raise
        raise found from exc
    finally:
        beam_log.removeFilter(_quiet_shard_errors)


def _quiet_shard_errors(record: logging.LogRecord) -> bool:
    """Drop the traceback Beam logs for a DoFn that raised ShardError (it logs every DoFn
    exception at ERROR before re-raising it); the command prints the error's one line."""
    exc = record.exc_info[1] if record.exc_info else None
    return not isinstance(exc, shards.ShardError)
