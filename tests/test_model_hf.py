"""Interop with Hugging Face transformers: our GPT-2 must compute the same function."""

from __future__ import annotations

import json

import pytest
import torch
from floats import assert_float32_close, gpt_terms

from model.checkpoint import load_checkpoint
from model.gpt2 import GPT2, GPT2Config
from model.hf_convert import (
    ConversionError,
    export_run,
    import_to_run,
    load_hf,
    save_hf,
)

transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")


def _random_hf_model(seed: int = 0, vocab: int = 300) -> transformers.GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        vocab_size=vocab,
        n_positions=64,
        n_embd=48,
        n_layer=3,
        n_head=4,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    # Random init leaves biases and LayerNorms at 0/1; perturb everything so a wrong
    # transpose or a missed bias cannot go unnoticed.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def _ids(vocab: int, seed: int = 1, length: int = 30) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (3, length), generator=g)


@pytest.mark.parametrize("safe", [True, False])
def test_import_matches_transformers_logits(tmp_path, safe):
    hf = _random_hf_model()
    hf.save_pretrained(tmp_path / "hf", safe_serialization=safe)
    ours = load_hf(tmp_path / "hf").eval()
    assert ours.config.vocab_size == 300 and ours.config.padded_vocab_size == 320
    ids = _ids(300)
    with torch.no_grad():
        want = hf(ids).logits
        got, _ = ours(ids)
    assert got.shape == want.shape
    assert_float32_close(got, want, terms=gpt_terms(3, 48))


def test_export_loads_back_into_transformers(tmp_path):
    torch.manual_seed(3)
    ours = GPT2(GPT2Config(n_layer=2, n_head=2, n_embd=32, block_size=32, vocab_size=100)).eval()
    with torch.no_grad():
        for p in ours.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        ours.wte.weight[100:].zero_()
    save_hf(ours, tmp_path / "out")
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "out").eval()
    ids = _ids(100)
    with torch.no_grad():
        assert_float32_close(hf(ids).logits, ours(ids)[0], terms=gpt_terms(2, 32))
    # and the round trip through our importer is exact
    again = load_hf(tmp_path / "out")
    for name, tensor in ours.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name


def test_run_dir_round_trip_with_tokenizer(tmp_path):
    hf = _random_hf_model(seed=5)
    hf.save_pretrained(tmp_path / "hf")
    (tmp_path / "hf" / "vocab.json").write_text(json.dumps({str(i): i for i in range(300)}))
    (tmp_path / "hf" / "merges.txt").write_text("#version: 0.2\n")
    path = import_to_run(tmp_path / "hf", tmp_path / "run")
    state = load_checkpoint(path)
    assert state["step"] == 0 and state["optimizer"] is None
    assert (tmp_path / "run" / "tokenizer" / "encoder.json").exists()
    export_run(tmp_path / "run", tmp_path / "back")
    assert (tmp_path / "back" / "merges.txt").read_text() == "#version: 0.2\n"
    back = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "back").eval()
    ids = _ids(300, seed=9)
    with torch.no_grad():
        assert_float32_close(back(ids).logits, hf(ids).logits, terms=gpt_terms(3, 48))


def test_unsupported_variant_and_missing_files_are_clear(tmp_path):
    hf = _random_hf_model()
    hf.config.activation_function = "relu"
    hf.save_pretrained(tmp_path / "relu")
    with pytest.raises(ConversionError, match="activation_function='relu'"):
        load_hf(tmp_path / "relu")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ConversionError, match="no model.safetensors"):
        load_hf(tmp_path / "empty")
    with pytest.raises(ConversionError, match="no config.json"):
        load_hf(tmp_path / "nowhere")
