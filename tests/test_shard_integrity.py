"""Readers check a finished stage directory against what its writer recorded (issue 12.4).

Real stage directories (docs/ by the stage writer, corpus/ by `webtext dedup`, tokens/ by
`webtext tokenize`), then damaged as a disk, a copy or a person would: a shard deleted, one
added, one truncated, bytes flipped inside a data page. Every reader refuses with one line
naming the shard and its directory (through the real CLI: exit 2, no traceback)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest

from beam_jobs.dedup_job import DedupConfig, run_dedup
from beam_jobs.shard_read import check_stage_input, shard_error_from
from beam_jobs.stage_io import WriteStageOutput
from beam_jobs.tokenize_job import TokenizeConfig, run_tokenize
from model.data import TokenDataError, list_token_shards, read_split
from pipeline.io import schemas, shard_verify, shards
from pipeline.io.stats import StageStats
from tests.helpers import doc_record

REPO = Path(__file__).resolve().parent.parent
WORDS = [
    "river",
    "stone",
    "market",
    "winter",
    "lantern",
    "harbor",
    "copper",
    "meadow",
    "signal",
    "orbit",
    "garden",
    "thunder",
    "canvas",
    "pepper",
    "violet",
    "engine",
    "ladder",
    "silver",
    "forest",
    "candle",
    "museum",
    "rocket",
]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def _write_docs(directory: Path, rows: list[dict], num_shards: int) -> None:
    """docs/ as the extract stage writes it: the stage writer, _stats.json, _SUCCESS."""
    shards.prepare_output(str(directory), shards.JobSpec("docs", {}, []))
    with beam.Pipeline() as p:
        keyed = p | "Rows" >> beam.Create([(r["doc_id"], r) for r in rows])
        stats = p | "Stats" >> beam.Create(
            [StageStats(records_in=len(rows), records_out=len(rows))]
        )
        _ = {"rows": keyed, "stats": stats} | WriteStageOutput(
            str(directory), schemas.DOCS, num_shards, "docs"
        )


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/ (3 shards) -> corpus/ (webtext dedup, 3 shards) -> tokens/ (webtext tokenize)."""
    root = tmp_path_factory.mktemp("stages")
    rng = random.Random(3)
    rows = [doc_record(f"d{i:03d}", _text(rng, 300)) for i in range(30)]
    _write_docs(root / "docs", rows, 3)
    dedup = DedupConfig(
        str(root / "docs"), str(root / "corpus"), str(root / "dups"),
        val_fraction=0.1, test_fraction=0.1,
    )  # fmt: skip
    assert run_dedup(dedup) == "ran"
    config = TokenizeConfig(str(root / "corpus"), str(root / "tokens"), vocab_size=300,
                            num_shards=2)  # fmt: skip
    assert run_tokenize(config) == "ran"
    return root


def _copy(stages: Path, name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(stages / name, tmp_path / name))


def _flip_data_page(path: Path, column: str) -> None:
    """Flip 8 bytes in the middle of the page holding most of ``column``'s values: its
    dictionary page when that is large (distinct texts), else its data pages. (Not the middle
    of the whole chunk: a data page header carries min/max statistics, for a text column two
    whole documents, which no reader uses and no page checksum covers.)"""
    chunk = next(
        c
        for c in (pq.read_metadata(path).row_group(0).column(i) for i in range(20))
        if c.path_in_schema == column
    )
    end = (chunk.dictionary_page_offset or chunk.data_page_offset) + chunk.total_compressed_size
    start = chunk.data_page_offset
    if chunk.has_dictionary_page and chunk.data_page_offset - chunk.dictionary_page_offset > 512:
        start, end = chunk.dictionary_page_offset, chunk.data_page_offset
    middle = (start + end) // 2
    data = bytearray(path.read_bytes())
    for i in range(middle, middle + 8):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def _webtext(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip


def _one_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _dedup_cli(docs: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return _webtext("dedup", str(docs), "--out", str(tmp_path / "c"))


SHARD = "part-00001-of-00003.parquet"


# -- intact directories ---------------------------------------------------------------------------
def test_the_writer_records_every_shard_with_its_size_and_footer(stages: Path) -> None:
    for name in ("docs", "corpus", "dups", "tokens"):
        data = json.loads((stages / name / shards.STATS_FILE).read_text())
        present = sorted(p.name for p in (stages / name).glob("part-*.parquet"))
        assert sorted(data["shards"]) == present
        assert sorted(data["shard_files"]) == present
        for shard in present:
            facts, _ = shard_verify.inspect_shard(str(stages / name / shard))
            assert data["shard_files"][shard] == facts.record()
            assert data["shards"][shard] == facts.rows


def test_intact_directories_read(stages: Path) -> None:
    docs = check_stage_input(str(stages / "docs"), schemas.DOCS, "docs")
    assert [Path(p).name for p in docs] == [shards.shard_name(i, 3) for i in range(3)]
    assert len(shards.read_rows(str(stages / "docs"), schemas.DOCS)) == 30
    assert len(shards.read_rows(str(stages / "corpus"), schemas.CORPUS)) == 30
    assert len(list_token_shards(stages / "tokens")) == 2
    assert len(read_split(stages / "tokens", "train")) > 1000


def test_a_record_without_sizes_is_checked_by_names_and_counts(
    stages: Path, tmp_path: Path
) -> None:
    """A directory finished before sizes were recorded keeps working."""
    docs = _copy(stages, "docs", tmp_path)
    data = json.loads((docs / shards.STATS_FILE).read_text())
    del data["shard_files"]
    (docs / shards.STATS_FILE).write_text(json.dumps(data))
    assert len(shards.read_rows(str(docs), schemas.DOCS)) == 30
    (docs / SHARD).unlink()
    with pytest.raises(shards.ShardError, match=f"shard {SHARD} of {docs} is missing"):
        shards.verified_shards(str(docs))


# -- (a) a shard deleted, or one added -----------------------------------------------------------
def test_deleted_shard_stops_the_next_stage_naming_it(stages: Path, tmp_path: Path) -> None:
    docs = _copy(stages, "docs", tmp_path)
    (docs / SHARD).unlink()
    line = _one_line(_dedup_cli(docs, tmp_path), SHARD, str(docs), "missing",
                     "`webtext extract` with --overwrite")  # fmt: skip
    assert "records 3 shards, 2 of them are there" in line
    assert not (tmp_path / "c").exists()  # refused before any output is claimed


def test_deleted_shard_is_refused_by_every_reader(stages: Path, tmp_path: Path) -> None:
    corpus = _copy(stages, "corpus", tmp_path)
    (corpus / SHARD).unlink()
    match = f"shard {SHARD} of {corpus} is missing"
    with pytest.raises(shards.ShardError, match=match):
        shards.read_rows(str(corpus), schemas.CORPUS)
    with pytest.raises(shards.ShardError, match=match):
        run_tokenize(TokenizeConfig(str(corpus), str(tmp_path / "t"), vocab_size=300))
    with pytest.raises(shards.ShardError, match=match):
        check_stage_input(str(corpus), schemas.CORPUS, "corpus")


def test_an_unrecorded_shard_is_refused(stages: Path, tmp_path: Path) -> None:
    docs = _copy(stages, "docs", tmp_path)
    shutil.copy(docs / SHARD, docs / "part-00003-of-00004.parquet")
    with pytest.raises(shards.ShardError, match="holds part-00003-of-00004.parquet, a shard its"):
        check_stage_input(str(docs), schemas.DOCS, "docs")


def test_a_replaced_shard_is_refused(stages: Path, tmp_path: Path) -> None:
    """Another valid shard under a recorded name: its size (or footer, or rows) differs."""
    docs = _copy(stages, "docs", tmp_path)
    shutil.copy(docs / "part-00000-of-00003.parquet", docs / SHARD)
    with pytest.raises(shards.ShardError, match=f"shard {SHARD} of {docs} is damaged"):
        shards.verified_shards(str(docs))
    data = json.loads((docs / shards.STATS_FILE).read_text())
    del data["shard_files"]  # an older record: the row count still tells
    (docs / shards.STATS_FILE).write_text(json.dumps(data))
    if data["shards"][SHARD] != data["shards"]["part-00000-of-00003.parquet"]:
        with pytest.raises(shards.ShardError, match="its footer counts .* rows where _stats.json"):
            shards.verified_shards(str(docs))


# -- (b) a truncated shard -----------------------------------------------------------------------
def test_truncated_shard_is_one_line_naming_it(stages: Path, tmp_path: Path) -> None:
    docs = _copy(stages, "docs", tmp_path)
    _truncate(docs / SHARD)
    _one_line(_dedup_cli(docs, tmp_path), f"shard {SHARD} of {docs} is damaged", "truncated")


def test_truncated_shard_without_a_size_record(stages: Path, tmp_path: Path) -> None:
    docs = _copy(stages, "docs", tmp_path)
    (docs / shards.STATS_FILE).write_text(json.dumps({"stage": "docs"}))  # no shard record at all
    _truncate(docs / SHARD)
    with pytest.raises(shards.ShardError, match=f"shard {SHARD} .* magic bytes not found"):
        check_stage_input(str(docs), schemas.DOCS, "docs")


# -- (c) bytes flipped in a data page: found only while the workers read it ----------------------
def test_damaged_data_page_is_one_line_naming_it(stages: Path, tmp_path: Path) -> None:
    docs = _copy(stages, "docs", tmp_path)
    _flip_data_page(docs / SHARD, "text")
    shards.verified_shards(str(docs))  # the footer is intact: only reading the page tells
    _one_line(_dedup_cli(docs, tmp_path), f"shard {SHARD} of {docs} is damaged",
              "rerun `webtext extract` with --overwrite")  # fmt: skip


def test_damaged_data_page_inside_beam_keeps_its_message(stages: Path, tmp_path: Path) -> None:
    corpus = _copy(stages, "corpus", tmp_path)
    _flip_data_page(corpus / SHARD, "text")
    with pytest.raises(shards.ShardError) as info:
        run_tokenize(TokenizeConfig(str(corpus), str(tmp_path / "t"), vocab_size=300))
    message = str(info.value)
    assert message.startswith(f"shard {SHARD} of {corpus} is damaged (")
    assert message.endswith(f"rerun `webtext dedup` with --overwrite to rebuild {corpus}")


def test_the_message_is_found_in_a_remote_workers_traceback() -> None:
    """Multi-process and remote runners re-raise a RuntimeError holding the traceback text."""
    remote = RuntimeError(
        'Pipeline failed:\nTraceback (most recent call last):\n  File "x.py", line 1\n'
        "pipeline.io.shard_verify.ShardError: shard part-00001-of-00003.parquet of /d is damaged "
        "(ZSTD decompression failed); rerun `webtext extract` with --overwrite to rebuild /d "
        "[while running 'Dedup/ReadDocs']\n"
    )
    found = shard_error_from(remote)
    assert isinstance(found, shards.ShardError)
    assert str(found) == (
        "shard part-00001-of-00003.parquet of /d is damaged (ZSTD decompression failed); "
        "rerun `webtext extract` with --overwrite to rebuild /d"
    )
    assert shard_error_from(RuntimeError("something else")) is None


# -- (d) token shards: `webtext train` -------------------------------------------------------------
def _train(tokens: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return _webtext("train", str(tokens), "--out", str(tmp_path / "run"), "--model", "tiny",
                    "--steps", "1", "--device", "cpu")  # fmt: skip


TOKEN_SHARD = "part-00001-of-00002.parquet"


def test_train_refuses_a_tokens_dir_with_a_deleted_shard(stages: Path, tmp_path: Path) -> None:
    tokens = _copy(stages, "tokens", tmp_path)
    (tokens / TOKEN_SHARD).unlink()
    _one_line(_train(tokens, tmp_path), f"shard {TOKEN_SHARD} of {tokens} is missing",
              "rerun `webtext tokenize` with --overwrite")  # fmt: skip


def test_train_names_a_damaged_token_shard(stages: Path, tmp_path: Path) -> None:
    tokens = _copy(stages, "tokens", tmp_path)
    _flip_data_page(tokens / TOKEN_SHARD, "tokens.list.element")
    _one_line(_train(tokens, tmp_path), f"shard {TOKEN_SHARD} of {tokens} is damaged",
              "rerun `webtext tokenize` with --overwrite")  # fmt: skip


def test_token_readers_name_a_truncated_shard(stages: Path, tmp_path: Path) -> None:
    tokens = _copy(stages, "tokens", tmp_path)
    _truncate(tokens / TOKEN_SHARD)
    with pytest.raises(TokenDataError, match=f"shard {TOKEN_SHARD} of {tokens} is damaged"):
        read_split(tokens, "train")
