"""Reading a stage directory's shards inside a Beam pipeline, one shard file per element."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipeline import shards


def check_stage_input(directory: str, schema: pa.Schema, what: str) -> list[str]:
    """The shard files of a finished stage directory, each checked against ``schema``.
    Errors name the directory and what is wrong before any work starts."""
    shards.require_complete(directory)
    files = shards.list_shards(directory)
    for path in files:
        with FileSystems.open(path) as f:
            shards.validate_schema(path, pq.ParquetFile(f).schema_arrow, schema)
    if not files:
        raise shards.ShardError(f"{directory}: {what} directory holds no shards")
    return files


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
