"""Unknown options are refused before any work: a typo or another tool's option is named, with
the closest known option, exit 2 and nothing written; Beam's own options still reach Beam."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import cli
from pipeline.commands.unknown_args import beam_option_names, closest_option, refusal
from tests.helpers import submission, write_dump, write_links

REPO = Path(__file__).resolve().parent.parent


def webtext(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


@pytest.fixture(scope="module")
def links_dir(tmp_path_factory) -> Path:
    links = tmp_path_factory.mktemp("options") / "links"
    write_links(links, ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"])
    return links


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        (["--concurency", "64"], "--concurrency"),
        (["--max-body-mbs=2"], "--max-body-mb"),
        (["--max_body_mb", "2"], "--max-body-mb"),
        (["--runer=DirectRunner"], "--runner"),
    ],
)
def test_fetch_refuses_a_typo_naming_the_option_it_resembles(
    typo: list[str], meant: str, links_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pages"
    result = webtext("fetch", str(links_dir), "--out", str(out), *typo, "--direct_num_workers=1")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    name = typo[0].split("=")[0]
    assert f"unknown option {name} " in lines[0]
    assert f"did you mean {meant}?" in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_fetch_refuses_an_option_it_does_not_have(links_dir: Path, tmp_path: Path) -> None:
    """An option fetch does not have is refused before anything is fetched, live or from an
    archive."""
    out = tmp_path / "pages"
    result = webtext(
        "fetch",
        str(links_dir),
        "--out",
        str(out),
        "--mirror-url",
        "http://127.0.0.1:9/",
        "--allow-private",
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "webtext fetch: unknown option --mirror-url (neither its own nor an Apache Beam option); "
        "see webtext fetch --help"
    )
    assert not out.exists()


def test_beam_options_still_reach_beam(tmp_path: Path) -> None:
    dump = write_dump(
        tmp_path / "RS.jsonl", [submission(f"p{i}", f"http://s{i}.example.com/a") for i in range(4)]
    )
    out = tmp_path / "links"
    result = webtext(
        "links", str(dump), "--out", str(out), "--runner", "DirectRunner",
        "--direct_num_workers=1", "--direct_running_mode", "in_memory",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (out / "_SUCCESS").exists()


def test_a_command_without_a_beam_job_refuses_beam_options(tmp_path: Path) -> None:
    result = webtext("train", str(tmp_path), "--out", str(tmp_path / "run"), "--runner=X")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "webtext train: unknown option --runner (not one of its options); see webtext train --help"
    )
    assert not (tmp_path / "run").exists()


def _minimal_argv(parser: argparse.ArgumentParser) -> list[str]:
    """Placeholder values for a command's positionals and required options."""
    argv: list[str] = []
    for action in parser._actions:
        if not action.option_strings:
            argv.append("x")
        elif action.required:
            argv += [action.option_strings[0], "x"]
    return argv


def _must_not_run(args: argparse.Namespace, extra: list[str]) -> int:
    raise AssertionError(f"webtext {args.command} ran despite {extra}")


@pytest.fixture()
def dry_cli(monkeypatch) -> dict[str, argparse.ArgumentParser]:
    """cli.main with every command's handler replaced by one that fails the test."""
    parser = cli.build_parser()
    commands = cli.command_parsers(parser)
    for command in commands.values():
        command.set_defaults(handler=_must_not_run)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    return commands


@pytest.mark.parametrize("name", cli.command_parsers(cli.build_parser()))
@pytest.mark.parametrize("unknown", [["--no-such-option", "1"], ["--no-such-option=1"], ["-Z"]])
def test_every_command_refuses_unknown_options(
    name: str, unknown: list[str], dry_cli, capsys
) -> None:
    argv = [name, *_minimal_argv(dry_cli[name]), *unknown]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"webtext {name}: unknown option {unknown[0].split('=')[0]} " in err


@pytest.mark.parametrize(
    "argv",
    [
        ["links", "a.jsonl", "--out", "x", "b.jsonl"],  # b.jsonl used to be dropped silently
        ["fetch", "links", "--out", "x", "stray", "--direct_num_workers=1"],
        ["train", "tokens", "--out", "x", "stray"],
    ],
)
def test_a_stray_argument_is_refused(argv: list[str], dry_cli, capsys) -> None:
    assert cli.main(argv) == 2
    assert f"webtext {argv[0]}: unexpected argument '{argv[4]}'" in capsys.readouterr().err


def test_log_level_after_the_command_is_pointed_before_it(dry_cli, capsys) -> None:
    assert cli.main(["stats", "x", "--log-level", "debug"]) == 2
    assert "--log-level is an option of webtext itself: put it before the command" in (
        capsys.readouterr().err
    )


def test_beam_options_come_from_beams_own_option_classes() -> None:
    names = set(beam_option_names())
    for option in ("--runner", "--direct_num_workers", "--project", "--flink_master",
                   "--spark_master_url", "--temp_location", "--job_endpoint"):  # fmt: skip
        assert option in names


def test_a_beam_option_used_wrongly_is_one_line() -> None:
    parser = cli.command_parsers(cli.build_parser())["links"]
    assert refusal("links", parser, ["--runner"], beam=True) == (
        "webtext links: argument --runner: expected one argument"
    )
    assert refusal("links", parser, ["--runner", "DirectRunner", "--streaming"], beam=True) is None


@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        ("--concurency", "--concurrency"),
        ("--max_body_mb", "--max-body-mb"),
        ("--direct-num-workers", "--direct_num_workers"),
        ("--source", None),
    ],
)
def test_closest_option(typo: str, expected: str | None) -> None:
    known = ["--concurrency", "--max-body-mb", "--direct_num_workers", "--resource_hints"]
    assert closest_option(typo, known) == expected
