"""Reading a stage directory's shards inside a Beam pipeline, one shard file per element."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipeline import shards
from pipeline import stats as stats_mod


def check_stage_input(directory: str, schema: pa.Schema, what: str) -> list[str]:
    """The shard files of a finished stage directory, each checked against ``schema``.
    Errors name the directory and what is wrong before any work starts.

    A finished stage that wrote 0 records (every link failed to fetch, say) holds no shard
    and says so in stats.json: that is a valid, empty input and the answer is ``[]`` (see
    ``empty_input_message``). No shard while stats.json counts records is an error."""
    shards.require_complete(directory)
    files = shards.list_shards(directory)
    for path in files:
        with FileSystems.open(path) as f:
            shards.validate_schema(path, pq.ParquetFile(f).schema_arrow, schema)
    if not files:
        written = _records_out(directory)
        if written != 0:
            counted = "no stats.json" if written is None else f"stats.json counts {written:,}"
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
    stats.json: 'pages/ holds 0 records (all 181 links failed: dns_error 181); writing an
    empty docs/'."""
    return stats_mod.empty_input_message(what, _read_stats(directory), output, action)


def read_shard_file(
    path: str, schema: pa.Schema, batch_size: int = 1024
) -> Iterable[dict[str, Any]]:
    with FileSystems.open(path) as f:
        pf = pq.ParquetFile(f)
        shards.validate_schema(path, pf.schema_arrow, schema)
        for batch in pf.iter_batches(batch_size=batch_size, columns=schema.names):
            yield from batch.to_pylist()


class ReadShardRows(beam.DoFn):
    """Shard path -> its rows as dicts (columns of ``schema``)."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema

    def process(self, path: str) -> Iterable[dict[str, Any]]:
        yield from read_shard_file(path, self.schema)


def fingerprint_stage(directory: str) -> list[str]:
    """Identify an input stage directory by its shard names and sizes (for _job.json)."""
    out = []
    for path in shards.list_shards(directory):
        size = FileSystems.match([path])[0].metadata_list[0].size_in_bytes
        out.append(f"{path}#{size}")
    return out
