"""The GPT-2 module: sizes, initialisation, causality, padding, loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from floats import assert_float32_close, gpt_terms

from model.gpt2 import CONFIGS, GPT2, GPT2Config, KVCache, config_for

SMALL = GPT2Config(n_layer=3, n_head=4, n_embd=32, block_size=24, vocab_size=101)


def test_released_sizes_have_gpt2_shapes_and_parameter_counts():
    # Parameter counts of the released checkpoints (tied embeddings counted once).
    expected = {"gpt2": 124_439_808, "gpt2-medium": 354_823_168}
    for name, count in expected.items():
        with torch.device("meta"):
            model = GPT2(CONFIGS[name])
        assert model.num_params() == count, name
    assert [CONFIGS[n].n_layer for n in ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")] == [
        12,
        24,
        36,
        48,
    ]
    assert [CONFIGS[n].n_embd for n in ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")] == [
        768,
        1024,
        1280,
        1600,
    ]
    assert CONFIGS["gpt2"].padded_vocab_size == 50304
    assert CONFIGS["gpt2"].block_size == 1024 and CONFIGS["gpt2"].vocab_size == 50257


def test_cpu_sizes_grow_in_steps_below_gpt2_small():
    # The study trains tiny < mini < midi on CPU for the same token budget: each strictly larger,
    # all smaller than GPT-2 small, with 32-wide heads like GPT-2 small's 64 / 2.
    counts = []
    for name in ("tiny", "mini", "midi", "gpt2"):
        with torch.device("meta"):
            counts.append(GPT2(CONFIGS[name]).num_params())
    assert counts == sorted(counts) and len(set(counts)) == 4
    assert counts[2] == 17_670_400  # midi: 6 layers x 256 wide, GPT-2's vocabulary
    assert {CONFIGS[n].head_dim for n in ("tiny", "mini", "midi")} == {32}
    assert CONFIGS["midi"].block_size == 256


def test_init_follows_gpt2():
    torch.manual_seed(0)
    model = GPT2(config_for("gpt2", n_layer=4, n_embd=256, n_head=4))
    resid = torch.cat(
        [
            torch.cat([b.attn.c_proj.weight.flatten(), b.mlp.c_proj.weight.flatten()])
            for b in model.blocks
        ]
    )
    assert resid.std().item() == pytest.approx(0.02 / math.sqrt(2 * 4), rel=0.02)
    assert model.blocks[0].mlp.c_fc.weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert model.wpe.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert model.wte.weight[:50257].std().item() == pytest.approx(0.02, rel=0.02)
    assert torch.count_nonzero(model.wte.weight[50257:]) == 0
    assert all(torch.count_nonzero(b.attn.c_attn.bias) == 0 for b in model.blocks)


def test_logits_sliced_to_vocab_and_loss_is_cross_entropy():
    torch.manual_seed(1)
    model = GPT2(SMALL).eval()
    assert SMALL.padded_vocab_size == 128
    x = torch.randint(0, 101, (2, 24))
    y = torch.randint(0, 101, (2, 24))
    logits, loss = model(x, y)
    assert logits.shape == (2, 24, 101)
    assert loss.item() == pytest.approx(
        F.cross_entropy(logits.reshape(-1, 101), y.reshape(-1)).item()
    )
    # fresh model: close to uniform over the real vocabulary, not the padded one
    assert loss.item() == pytest.approx(math.log(101), abs=0.1)


def test_padded_and_unpadded_output_matmul_agree():
    torch.manual_seed(5)
    model = GPT2(SMALL)
    with torch.no_grad():
        model.wte.weight[101:].normal_()  # even non-zero padding rows must not leak in
    h = torch.randn(2, 7, 32)
    padded, plain = model.logits(h, padded_matmul=True), model.logits(h, padded_matmul=False)
    assert padded.shape == plain.shape == (2, 7, 101)
    torch.testing.assert_close(padded, plain)


def test_chunked_loss_equals_full_loss_and_gradients():
    torch.manual_seed(2)
    full, chunked = GPT2(SMALL), GPT2(SMALL)
    chunked.load_state_dict(full.state_dict())
    chunked.loss_chunks = 3
    x = torch.randint(0, 101, (2, 24))
    y = torch.randint(0, 101, (2, 24))
    _, l1 = full(x, y)
    logits, l2 = chunked(x, y)
    assert logits is None
    # Chunks change the order of the loss's sums over positions and vocabulary (and, backward,
    # over every chained sum of the network twice).
    terms = 2 * gpt_terms(3, 32) + 2 * 24 + SMALL.padded_vocab_size
    assert_float32_close(l2, l1, terms=terms)
    l1.backward()
    l2.backward()
    for (name, p1), p2 in zip(full.named_parameters(), chunked.parameters(), strict=True):
        assert_float32_close(p2.grad, p1.grad, terms=terms, msg=name)
    with torch.no_grad():  # evaluation takes the gradient-free path
        assert_float32_close(chunked(x, y)[1], full(x, y)[1], terms=terms)


def test_causal_future_tokens_do_not_change_past_logits():
    torch.manual_seed(3)
    model = GPT2(SMALL).eval()
    x = torch.randint(0, 101, (1, 20))
    x2 = x.clone()
    x2[0, 12:] = (x2[0, 12:] + 7) % 101
    with torch.no_grad():
        a, _ = model(x)
        b, _ = model(x2)
    torch.testing.assert_close(a[:, :12], b[:, :12])
    assert not torch.allclose(a[:, 12:], b[:, 12:])


def test_kv_cache_forward_matches_full_forward():
    torch.manual_seed(4)
    model = GPT2(SMALL).eval()
    x = torch.randint(0, 101, (2, 16))
    cache = KVCache(SMALL, 2, SMALL.block_size, "cpu", torch.float32)
    with torch.no_grad():
        full, _ = model(x)
        first, _ = model(x[:, :9], cache=cache)
        rest, _ = model(x[:, 9:], cache=cache)  # several new positions at once
    assert_float32_close(torch.cat([first, rest], dim=1), full, terms=gpt_terms(3, 32))
    assert cache.length == 16


def test_padding_rows_get_no_gradient_and_weight_decay_groups():
    model = GPT2(SMALL)
    x = torch.randint(0, 101, (2, 8))
    _, loss = model(x, x)
    loss.backward()
    assert torch.count_nonzero(model.wte.weight.grad[101:]) == 0
    decay, no_decay = model.optimizer_groups(0.1)
    assert all(p.dim() == 2 for p in decay["params"]) and decay["weight_decay"] == 0.1
    assert all(p.dim() == 1 for p in no_decay["params"]) and no_decay["weight_decay"] == 0.0
    n = sum(p.numel() for p in decay["params"]) + sum(p.numel() for p in no_decay["params"])
    assert n == model.num_params(include_padding=True)


def test_bad_configs_and_inputs_are_refused():
    with pytest.raises(ValueError, match="not divisible"):
        GPT2Config(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="unknown model"):
        config_for("gpt5")
    with pytest.raises(ValueError, match="exceeds the context"):
        GPT2(SMALL)(torch.zeros(1, 25, dtype=torch.long))


def test_flops_per_token_matches_six_n_plus_attention():
    with torch.device("meta"):
        model = GPT2(CONFIGS["gpt2"])
    n = 124_439_808 - 1024 * 768 + (50304 - 50257) * 768  # no positions, padded head
    assert model.flops_per_token(1024) == 6 * n + 12 * 12 * 768 * 1024
