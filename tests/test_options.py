"""Options declared once: a config dataclass gives its command's flags, defaults and checks."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from model.train_config import TrainConfig
from pipeline.cli import build_parser, command_parsers
from pipeline.io.options import dest_of, flag_of

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
