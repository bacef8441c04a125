"""The `webtext` command: help everywhere, the demo end to end."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import cli
from pipeline.io import schemas, shards


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
        "heavy = [m for m in ('apache_beam', 'torch', 'trafilatura', 'aiohttp') if m in sys.modules]; "
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


def _command_parsers() -> dict[str, argparse.ArgumentParser]:
    return cli.command_parsers(cli.build_parser())


def _help_problems(parser: argparse.ArgumentParser) -> list[str]:
    """Options (and positionals) without a help text, and defaults --help does not show: the
    help as argparse renders it, through the parser's own formatter (%(default)s expanded,
    " (default: ...)" appended where the formatter adds it), must contain the default."""
    formatter = parser._get_formatter()
    problems = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        if not action.help:
            problems.append(f"{name}: no help")
        elif cli.shows_default(action.default):
            shown = formatter._expand_help(action)
            if str(action.default) not in shown:
                problems.append(f"{name}: default {action.default!r} not in help {shown!r}")
    return problems


@pytest.mark.parametrize("name", sorted(_command_parsers()))
def test_every_option_has_help_that_shows_its_default(name: str) -> None:
    parser = _command_parsers()[name]
    assert parser.description, f"webtext {name} --help has no description"
    assert _help_problems(parser) == []


def test_help_check_catches_a_missing_help_and_a_hidden_default() -> None:
    parser = argparse.ArgumentParser(formatter_class=argparse.HelpFormatter)
    parser.add_argument("--quiet-default", type=int, default=7, help="a count")
    parser.add_argument("--no-help", type=int)
    parser.add_argument("--shown", type=int, default=7, help="a count (default: %(default)s)")
    parser.add_argument("--switch", action="store_true", help="off unless given")
    assert _help_problems(parser) == [
        "--quiet-default: default 7 not in help 'a count'",
        "--no-help: no help",
    ]


def test_help_shows_defaults_once() -> None:
    text = _command_parsers()["fetch"].format_help()
    assert "requests in flight per worker, all hosts together (default: 64)" in " ".join(
        text.split()
    )
    assert "(default: 8) (default: 8)" not in text
