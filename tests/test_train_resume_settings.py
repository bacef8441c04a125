"""`webtext train --resume` with other settings: refused where the run would become another run
(data, shapes, seeds), applied, logged and recorded where it is the user's call (issue 12.6)."""

from __future__ import annotations

import dataclasses
import logging
import shutil

import pytest
import torch
from test_model_train import _cfg, _tokens_dir

from model.checkpoint import CheckpointError, load_checkpoint
from model.resume import unclassified_fields
from model.train import TrainConfig, train


def test_every_setting_has_a_resume_rule():
    assert unclassified_fields(f.name for f in dataclasses.fields(TrainConfig)) == []


def test_changed_weight_decay_is_applied_logged_and_recorded(tmp_path, caplog):
    tokens = _tokens_dir(tmp_path / "tokens")
    for name in ("same", "changed"):
        train(_cfg(tokens, tmp_path / name, stop_at=4, dropout=0.0, weight_decay=0.1))
    train(_cfg(tokens, tmp_path / "same", resume=True, dropout=0.0, weight_decay=0.1))
    with caplog.at_level(logging.INFO, logger="webtext.train"):
        train(_cfg(tokens, tmp_path / "changed", resume=True, dropout=0.0, weight_decay=0.0))
    assert "resumed at step 4 with changed settings" in caplog.text
    assert "weight_decay 0.1 -> 0.0" in caplog.text

    same, changed = load_checkpoint(tmp_path / "same"), load_checkpoint(tmp_path / "changed")
    # Trained with what was asked: every optimizer group now decays by 0 ...
    assert {g["weight_decay"] for g in changed["optimizer"]["param_groups"]} == {0.0}
    assert {g["weight_decay"] for g in same["optimizer"]["param_groups"]} == {0.0, 0.1}
    # ... which moved the decayed weights (steps 5-8 differ), and recorded truthfully.
    assert not torch.equal(same["model"]["blocks.0.mlp.c_fc.weight"],
                           changed["model"]["blocks.0.mlp.c_fc.weight"])  # fmt: skip
    assert changed["train_config"]["weight_decay"] == 0.0
    assert changed["config_history"] == [{"step": 4, "changes": {"weight_decay": [0.1, 0.0]}}]
    assert same["config_history"] == []


def test_resume_on_other_token_data_is_refused(tmp_path):
    tokens = _tokens_dir(tmp_path / "tokens", seed=0)
    other = _tokens_dir(tmp_path / "other", seed=1)  # same tokenizer files, other documents
    train(_cfg(tokens, tmp_path / "run", stop_at=4))
    with pytest.raises(CheckpointError, match="holds other token data than the run was trained on"):
        train(_cfg(other, tmp_path / "run", resume=True))
    assert load_checkpoint(tmp_path / "run")["step"] == 4  # nothing written


def test_resume_on_the_same_tokens_moved_elsewhere_continues(tmp_path):
    tokens = _tokens_dir(tmp_path / "tokens")
    train(_cfg(tokens, tmp_path / "run", stop_at=4))
    shutil.copytree(tokens, tmp_path / "moved")
    assert train(_cfg(tmp_path / "moved", tmp_path / "run", resume=True)).step == 8
