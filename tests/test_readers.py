"""Every stage directory of a real demo tree opens as a dataset in the common readers, with no
glue beyond what the README's "Reading the outputs" says: pandas, pyarrow.dataset, Hugging Face
datasets, Polars and DuckDB, each counting the rows the directory's _stats.json records.
Directories written before the rename (stats.json, tokens/tokenizer/) are still read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from model.data import list_token_shards, read_split, tokenizer_vocab_size
from pipeline.funnel import load_funnel
from pipeline.io import shards

# The stage directories of a demo tree that hold Parquet shards and a _stats.json.
STAGE_DIRS = ("links", "pages", "docs", "corpus", "dups", "tokens", "overlap/documents")
# ... and eval's per-example rows (counted by eval/summary.json, not a _stats.json).
EVAL_EXAMPLES = "eval/examples"
# pages/'s `headers` column is an Arrow map, which Hugging Face datasets has no type for.
HF_UNSUPPORTED = {"pages": ("headers",)}


def _expected_rows(root: Path, directory: str) -> int:
    if directory == EVAL_EXAMPLES:
        summary = json.loads((root / "eval" / "summary.json").read_text())
        return sum(s["examples"] for s in summary["sets"])
    stats = shards.read_stats(str(root / directory))
    assert sum(stats["shards"].values()) == stats["records_out"]
    return stats["records_out"]


def _hf_rows(path: str, cache: Path, skip: tuple[str, ...] = ()) -> int:
    kwargs = {}
    if skip:  # as the README says: name the other columns and their features
        schema = ds.dataset(path).schema
        for name in skip:
            schema = schema.remove(schema.get_field_index(name))
        features = datasets.Features.from_arrow_schema(schema)
        kwargs = {"columns": list(features), "features": features}
    loaded = datasets.load_dataset(
        "parquet", data_dir=path, data_files="*.parquet", cache_dir=str(cache), **kwargs
    )
    return sum(len(split) for split in loaded.values())


@pytest.mark.parametrize("directory", [*STAGE_DIRS, EVAL_EXAMPLES])
def test_every_reader_opens_the_stage_directory(
    trained_root: Path, directory: str, tmp_path: Path
) -> None:
    path = str(trained_root / directory)
    want = _expected_rows(trained_root, directory)
    assert want > 0, f"{directory}: the demo wrote no rows to read back"
    got = {
        "pandas": len(pd.read_parquet(path)),
        "pyarrow.dataset": ds.dataset(path).count_rows(),
        "datasets": _hf_rows(path, tmp_path / "hf", HF_UNSUPPORTED.get(directory, ())),
        "polars": pl.read_parquet(path + "/*.parquet").height,
        "duckdb": duckdb.connect().sql(f"SELECT count(*) FROM '{path}/*.parquet'").fetchall()[0][0],
    }
    assert got == dict.fromkeys(got, want), f"{directory}: {got}, _stats.json says {want}"


@pytest.mark.parametrize("directory", STAGE_DIRS)
def test_only_shards_have_names_readers_do_not_skip(demo_root: Path, directory: str) -> None:
    """Every entry of a stage directory but its part-* shards starts with "_" (_SUCCESS,
    _job.json, _stats.json, _tokenizer/, _fetched/), which readers skip."""
    names = sorted(p.name for p in (demo_root / directory).iterdir())
    assert shards.STATS_FILE in names and shards.LEGACY_STATS_FILE not in names
    assert [n for n in names if not n.startswith("_") and not n.startswith("part-")] == []
    if directory == "tokens":
        assert (demo_root / "tokens" / shards.TOKENIZER_DIR / "encoder.json").is_file()


def test_pages_headers_are_read_by_pandas_as_pairs(demo_root: Path) -> None:
    frame = pd.read_parquet(demo_root / "pages", columns=["link_id", "headers"])
    assert all(isinstance(h, list) for h in frame["headers"])  # [(name, value), ...]


def test_token_shards_flatten_to_the_trainers_uint16_stream(
    demo_root: Path, tmp_path: Path
) -> None:
    """The README's recipe for nanoGPT's train.bin (a flat uint16 memmap) gives exactly the
    token stream webtext's own trainer reads for the split."""
    tokens = str(demo_root / "tokens")
    for split in ("train", "val"):
        table = ds.dataset(tokens).to_table(columns=["tokens"], filter=pc.field("split") == split)
        flat = pc.list_flatten(table["tokens"]).to_numpy().astype(np.uint16)
        flat.tofile(tmp_path / f"{split}.bin")
        stream = np.memmap(tmp_path / f"{split}.bin", dtype=np.uint16, mode="r")
        np.testing.assert_array_equal(stream, read_split(tokens, split))


def _legacy_copy(demo_root: Path, target: Path) -> Path:
    """The demo's stage directories as versions before the rename wrote them."""
    shutil.copytree(demo_root, target, ignore=shutil.ignore_patterns("_fetched"))
    for stats in target.rglob(shards.STATS_FILE):
        stats.rename(stats.with_name(shards.LEGACY_STATS_FILE))
    (target / "tokens" / shards.TOKENIZER_DIR).rename(
        target / "tokens" / shards.LEGACY_TOKENIZER_DIR
    )
    return target


def test_outputs_written_before_the_rename_are_still_read(demo_root: Path, tmp_path: Path) -> None:
    old = _legacy_copy(demo_root, tmp_path / "old")
    for directory in STAGE_DIRS:
        path = str(old / directory)
        assert shards.stats_path(path) == shards.join(path, shards.LEGACY_STATS_FILE)
        assert shards.read_stats(path) == shards.read_stats(str(demo_root / directory))
        assert shards.verified_shards(path)  # checked against the old file's record
    [new_funnel] = load_funnel([str(demo_root)])
    [old_funnel] = load_funnel([str(old)])
    assert not old_funnel.has_error
    assert [(s.stage, s.figures) for s in old_funnel.stages] == [
        (s.stage, s.figures) for s in new_funnel.stages
    ]
    assert list_token_shards(old / "tokens")
    assert tokenizer_vocab_size(old / "tokens") == tokenizer_vocab_size(demo_root / "tokens")


def test_rewriting_an_old_directory_leaves_one_stats_file(demo_root: Path, tmp_path: Path) -> None:
    old = _legacy_copy(demo_root, tmp_path / "old")
    links = str(old / "links")
    stats = shards.read_stats(links)
    shards.finish_output(links, stats)  # a resumed run of an old directory finishing
    assert shards.stats_path(links) == shards.join(links, shards.STATS_FILE)
    assert not (old / "links" / shards.LEGACY_STATS_FILE).exists()
    docs = old / "docs"
    n_shards = len(list(docs.glob("part-*.parquet")))
    assert shards.reopen_output(str(docs)) == n_shards  # fetch --retry reopening an old pages/
    assert not any((docs / name).exists() for name in shards.STATS_FILES)
