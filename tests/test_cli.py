"""The `webtext` command: help everywhere, the demo end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import cli, schemas, shards


def _subcommands() -> list[str]:
    return list(cli.COMMANDS)


def test_top_level_help_lists_every_stage(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in _subcommands():
        assert name in out


@pytest.mark.parametrize("name", _subcommands())
def test_each_subcommand_has_help(name: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([name, "--help"])
    assert exc.value.code == 0
    assert "usage: webtext" in capsys.readouterr().out


def test_cli_imports_no_heavy_module() -> None:
    """`webtext --help` stays fast: no Beam or torch import just to parse arguments."""
    code = (
        "import sys; from pipeline import cli; cli.build_parser(); "
        "heavy = [m for m in ('apache_beam', 'torch', 'trafilatura') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_demo_runs_offline_and_reports_what_it_kept(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "demo", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # what a terminal shows: logs and prints, in order
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert "[demo] links" in result.stdout
    lines = result.stdout.splitlines()
    # Each stage's drop table is printed once (not logged, then printed again) ...
    for stage in ("links", "pages", "docs", "corpus"):
        dropped = shards.read_stats(str(out / stage))["dropped"]
        for reason, n in dropped.items():
            assert lines.count(f"  dropped {reason:<28} {n:>10,}") == (1 if n else 0), reason
    # ... and the very last line is the report's path.
    assert lines[-1] == str((out / "report" / "index.html").resolve())
    rows = shards.read_rows(str(out / "links"), schemas.LINKS)
    urls = {r["url"] for r in rows}
    assert len(rows) == 15
    hosts = {u.split("/")[2] for u in urls}
    assert not any(word in h for h in hosts for word in ("wikipedia", "imgur", "reddit", "redd.it"))
    assert not any(u.endswith(".pdf") for u in urls)
    stats = shards.read_stats(str(out / "links"))
    for reason in (
        "self_post",
        "blocked_domain",
        "wikipedia",
        "reddit_link",
        "nsfw",
        "malformed_json",
        "score_below_min",
    ):
        assert stats["dropped"][reason] >= 1, reason
    assert stats["records_in"] == stats["records_out"] + sum(stats["dropped"].values())
