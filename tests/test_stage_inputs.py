"""Every stage refuses another stage's directory before touching its own output: the message
names the shard file and the missing column, and no output directory appears."""

from __future__ import annotations

from pathlib import Path

import pytest

from beam_jobs.links_job import LinksConfig, run_links
from pipeline.cli import main as cli_main
from tests.helpers import submission, write_dump


@pytest.fixture(scope="module")
def links_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stage-inputs")
    dump = write_dump(
        root / "d.jsonl", [submission(f"p{i}", f"http://s{i}.example.com/a") for i in range(5)]
    )
    out = root / "links"
    run_links(LinksConfig(inputs=[str(dump)], out_dir=str(out), num_shards=1))
    return out


@pytest.mark.parametrize("command", ["extract", "dedup", "tokenize"])
def test_wrong_stage_directory_is_refused_up_front(
    command: str, links_dir: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    assert cli_main([command, str(links_dir), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "part-00000-of-00001.parquet: missing column '" in err
    assert not out.exists()
