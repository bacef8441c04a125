"""Options declared once: a config dataclass gives its command's flags, defaults and checks."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from beam_jobs.configs import (
    DedupConfig,
    ExtractJobConfig,
    FetchJobConfig,
    LinksConfig,
    OverlapConfig,
    TokenizeConfig,
)
from dedup.params import MinHashParams
from eval.eval_config import EvalConfig
from model.train_config import TrainConfig
from pipeline.cli import build_parser, command_parsers
from pipeline.extract_config import ExtractConfig
from pipeline.fetch.config import FetchConfig
from pipeline.io.options import config_from_args, dest_of, flag_of

REPO = Path(__file__).resolve().parent.parent


def test_every_train_option_is_a_flag_with_the_configs_default():
    parser = command_parsers(build_parser())["train"]
    by_dest = {a.dest: a for a in parser._actions}
    for field in dataclasses.fields(TrainConfig):
        if "help" not in field.metadata:
            continue
        action = by_dest[dest_of(field)]
        assert flag_of(field) in action.option_strings
        assert action.default == field.default, field.name
    args = parser.parse_args(["tokens", "--out", "run"])
    assert {f.name: getattr(args, dest_of(f)) for f in dataclasses.fields(TrainConfig)
            if "help" in f.metadata} == {f.name: f.default for f in dataclasses.fields(TrainConfig)
                                         if "help" in f.metadata}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [({"steps": 0}, "--steps must be at least 1, got 0"),
     ({"attention": "fastest"}, "--attention 'fastest' is not one of auto, flash"),
     ({"model": "gpt5"}, "--model 'gpt5' is not one of gpt2")],
)  # fmt: skip
def test_a_config_made_in_python_is_checked_like_the_command_line(change, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(tokens_dir="t", out_dir="o", **change)


def test_a_value_out_of_bounds_is_one_line_from_the_command(tmp_path):
    cmd = [sys.executable, "-m", "pipeline.cli", "train", str(tmp_path), "--out",
           str(tmp_path / "run"), "--micro-batch", "0"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert (
        proc.stderr.strip().count("\n") == 0 and "--micro-batch must be at least 1" in proc.stderr
    )
    assert not (tmp_path / "run").exists()


# The commands whose options are declared in their configs: the configs, and a command line
# with only the positional arguments and --out.
CONVERTED = {
    "links": ((LinksConfig,), ["RS_2019-01.zst", "--out", "links"]),
    "fetch": ((FetchConfig, FetchJobConfig), ["links", "--out", "pages"]),
    "extract": ((ExtractConfig, ExtractJobConfig), ["pages", "--out", "docs"]),
    "dedup": ((MinHashParams, DedupConfig), ["docs", "--out", "corpus"]),
    "tokenize": ((TokenizeConfig,), ["corpus", "--out", "tokens"]),
    "train": ((TrainConfig,), ["tokens", "--out", "run"]),
}


def _required_fields(config_cls: type) -> dict[str, str]:
    return {
        f.name: "x"
        for f in dataclasses.fields(config_cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }


@pytest.mark.parametrize("command", sorted(CONVERTED))
def test_every_option_of_a_commands_configs_is_a_flag_with_the_configs_default(command):
    configs, argv = CONVERTED[command]
    parser = command_parsers(build_parser())[command]
    by_dest = {a.dest: a for a in parser._actions}
    args = parser.parse_args(argv)
    for config_cls in configs:
        fields = [f for f in dataclasses.fields(config_cls) if "help" in f.metadata]
        assert fields, config_cls
        for field in fields:
            action = by_dest[dest_of(field)]
            assert flag_of(field) in action.option_strings, field.name
            assert action.help.startswith(field.metadata["help"]), field.name
            default = (
                field.default_factory() if field.default is dataclasses.MISSING else field.default
            )
            if isinstance(default, bool):  # a switch: given, it flips the default
                assert action.nargs == 0 and action.default is False, field.name
            elif isinstance(default, list | tuple):  # repeated: absent, the config's default
                assert action.default is None, field.name
            else:
                assert action.default == default, field.name
        # No option given: the config the command builds is the config's defaults.
        given = _required_fields(config_cls)
        assert config_from_args(config_cls, args, **given) == config_cls(**given)


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["fetch", "links", "--concurrency", "0"], "--concurrency must be at least 1, got 0"),
     (["extract", "pages", "--fallback-ratio", "0.5"], "--fallback-ratio must be 0 (off) or >= 1"),
     (["dedup", "docs", "--bands", "40"], "exceeds num_perm"),
     (["tokenize", "corpus", "--num-shards", "0"], "--num-shards must be at least 1, got 0"),
     (["links", "RS.zst", "--min-score", "3", "--score-rule", "max", "--num-shards", "-1"],
      "--num-shards must be at least 1")],
)  # fmt: skip
def test_a_converted_commands_bad_value_is_one_line(tmp_path, argv, message):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pipeline.cli", *argv, "--out", str(out)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and message in proc.stderr, proc.stderr
    assert not out.exists()


def test_the_mode_and_vocabulary_switches_still_exclude_each_other(capsys):
    parser = build_parser()
    for argv in (
        ["extract", "pages", "--out", "d", "--favor-recall", "--balanced"],
        ["tokenize", "corpus", "--out", "t", "--gpt2-files", "g", "--vocab-size", "300"],
    ):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
        assert "not allowed with argument" in capsys.readouterr().err


def test_repeated_options_become_the_configs_tuples():
    parser = build_parser()
    args = parser.parse_args(
        ["fetch", "links", "--out", "p", "--resolve", "a:80:127.0.0.1", "--max-body-mb", "1"]
    )
    fetch = config_from_args(FetchConfig, args, max_body_bytes=int(args.max_body_mb * 2**20))
    assert fetch.resolve == ("a:80:127.0.0.1",) and fetch.max_body_bytes == 2**20
    args = parser.parse_args(["extract", "pages", "--out", "d", "--lang", "en", "--no-tables"])
    extract = config_from_args(ExtractConfig, args)
    assert extract.languages == ("en",) and extract.include_tables is False


@pytest.mark.parametrize(
    ("command", "config_cls", "positional"),
    [("overlap", OverlapConfig, "corpus_dir"), ("eval", EvalConfig, "run_dir")],
)
def test_commands_with_required_test_sets_take_their_options_from_the_config(
    command, config_cls, positional
):
    argv = ["input", "--out", "out", "--test", "w=w.txt"]
    args = command_parsers(build_parser())[command].parse_args(argv)
    config = config_from_args(config_cls, args, **{positional: "input", "out_dir": "out"})
    assert config.tests == ["w=w.txt"]
    for field in dataclasses.fields(config_cls):
        if "help" in field.metadata and field.name != "tests":
            default = (
                field.default_factory() if field.default is dataclasses.MISSING else field.default
            )
            assert getattr(config, field.name) == default, field.name
