"""GPU behaviour of the model and trainer. Skipped without CUDA (CI has none); run on a lent GPU
with `bash bench/gpu_session.sh checks`. Each test asserts what a GPU user relies on: the
pinned attention kernels compute attention, bf16 + compile trains, the chunked loss matches,
and running out of memory ends with advice instead of a traceback."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from synthetic import write_token_shards

from model.gpt2 import GPT2, attention_backend, config_for
from model.train import TrainConfig, TrainingError, read_metrics, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _tokens_dir(path, vocab=50257, n_docs=40, doc_len=4000, seed=0):
    rng = np.random.default_rng(seed)
    motifs = [rng.integers(0, vocab - 1, 7) for _ in range(50)]
    docs = []
    for i in range(n_docs):
        body = np.concatenate([motifs[j] for j in rng.integers(0, 50, doc_len // 7)])
        docs.append((f"d{i}", "val" if i % 10 == 0 else "train", np.append(body, vocab - 1)))
    write_token_shards(path, docs, num_shards=4)
    tok = path / "_tokenizer"
    tok.mkdir(exist_ok=True)
    (tok / "encoder.json").write_text(json.dumps({f"t{i}": i for i in range(vocab)}))
    (tok / "vocab.bpe").write_text("#version: 0.2\n")
    return path


@pytest.mark.parametrize("backend", ["auto", "flash", "cudnn", "efficient"])
def test_each_attention_kernel_matches_the_reference(backend):
    gen = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (
        torch.randn(4, 12, 1024, 64, device="cuda", dtype=torch.bfloat16, generator=gen)
        for _ in range(3)
    )
    with attention_backend("math"):
        ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=True)
    with attention_backend(backend):
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(out.float(), ref, atol=2e-2, rtol=2e-2)


def test_chunked_loss_matches_plain_loss_and_gradients_in_bf16():
    torch.manual_seed(0)
    model = GPT2(config_for("mini", vocab_size=50257)).cuda()
    x = torch.randint(0, 50257, (4, 256), device="cuda")
    y = torch.randint(0, 50257, (4, 256), device="cuda")
    results = []
    for chunks in (1, 4):
        model.zero_grad(set_to_none=True)
        model.loss_chunks = chunks
        with torch.autocast("cuda", dtype=torch.bfloat16):
            _, loss = model(x, y)
        loss.backward()
        results.append((loss.item(), model.wte.weight.grad.clone()))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-3)
    torch.testing.assert_close(results[0][1], results[1][1], atol=1e-4, rtol=5e-2)


@pytest.mark.parametrize("attention", ["auto", "cudnn"])
def test_compiled_bf16_training_learns_and_reports_mfu(tmp_path, attention):
    tokens = _tokens_dir(tmp_path / "tokens")
    cfg = TrainConfig(
        tokens_dir=str(tokens),
        out_dir=str(tmp_path / "run"),
        model="mini",
        steps=60,
        batch_tokens=8 * 256 * 2,
        micro_batch=8,
        seq_len=256,
        lr=3e-3,
        warmup_steps=5,
        eval_interval=30,
        eval_batches=2,
        log_interval=20,
        compile=True,
        attention=attention,
        peak_tflops=989.0,
    )
    result = train(cfg)
    metrics = read_metrics(tmp_path / "run")
    losses = [m["loss"] for m in metrics if "loss" in m]
    assert len(losses) == 60 and all(np.isfinite(losses))
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 1.0
    assert result.val_loss is not None and result.val_loss < losses[0]
    assert all(m["mfu"] > 0 for m in metrics if "mfu" in m)


def test_out_of_memory_names_the_setting_to_lower(tmp_path):
    tokens = _tokens_dir(tmp_path / "tokens", n_docs=150)  # 600K tokens: 512 windows of 1025
    cfg = TrainConfig(
        tokens_dir=str(tokens),
        out_dir=str(tmp_path / "run"),
        model="gpt2-xl",
        steps=1,
        batch_tokens=512 * 1024,
        micro_batch=512,
        eval_batches=1,
    )
    with pytest.raises(TrainingError, match="lower --micro-batch"):
        train(cfg)
    torch.cuda.empty_cache()
