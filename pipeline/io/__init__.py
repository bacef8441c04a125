"""The foundation every layer may import: stage-directory IO (Parquet shards, _job.json,
_stats.json, _SUCCESS and their verification), the declared schemas, per-stage statistics, the
output lock and the translation of file-system errors into one line.

Only the standard library, pyarrow and numpy are imported here (xxhash lazily, where shards are
written), so ``model`` can use it on a training machine without Beam.
"""
