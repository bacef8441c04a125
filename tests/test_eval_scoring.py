"""Scoring windows, and the correctness anchor: our perplexity of a random Hugging Face GPT-2
(imported through model.hf_convert) equals what transformers computes on the same windows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from floats import assert_float32_close, gpt_terms

from eval.scoring import make_windows, score_sequences


@pytest.mark.parametrize(
    "n,context,stride", [(1, 4, 4), (10, 4, 4), (10, 4, 1), (23, 8, 3), (8, 8, 8)]
)
def test_windows_score_every_target_once_with_enough_context(n, context, stride):
    scored = []
    for w in make_windows(n, context, stride):
        assert 0 < w.end - w.start <= context
        targets = list(range(w.score_from, w.end + 1))
        scored += targets
        if w.start > 0:  # later windows keep at least context - stride tokens of context
            assert w.score_from - 1 - w.start >= context - stride
    assert scored == list(range(1, n + 1))


def test_bad_window_settings_are_errors():
    with pytest.raises(ValueError, match="stride"):
        make_windows(10, 4, 5)
    with pytest.raises(ValueError, match="context"):
        make_windows(10, 0, 1)


@pytest.fixture(scope="module")
def hf_pair(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    from model.hf_convert import load_hf

    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=300, n_positions=64, n_embd=32, n_layer=2, n_head=4)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    path = tmp_path_factory.mktemp("hf")
    hf.save_pretrained(path)
    return hf, load_hf(path)


def _hf_nll(hf, seqs, context, stride):
    """Sum of NLL and count, from transformers' own loss on each window (labels -100 where a
    position is context only)."""
    total, count = 0.0, 0
    for s in seqs:
        for w in make_windows(len(s) - 1, context, stride):
            ids = torch.tensor([s[w.start : w.end + 1]])
            labels = ids.clone()
            labels[0, : w.score_from - w.start] = -100
            with torch.no_grad():
                loss = hf(input_ids=ids, labels=labels).loss.item()
            n = int((labels[0, 1:] != -100).sum())
            total, count = total + loss * n, count + n
    return total, count


@pytest.mark.parametrize("context,stride", [(32, 32), (32, 8), (63, 20)])
def test_perplexity_matches_transformers(hf_pair, context, stride):
    hf, ours = hf_pair
    rng = np.random.default_rng(1)
    seqs = [[299, *rng.integers(0, 299, n).tolist()] for n in (3, 31, 32, 33, 150)]
    results = score_sequences(ours, seqs, context=context, stride=stride, batch_size=3)
    nll = -sum(r[0].sum() for r in results)
    count = sum(len(r[0]) for r in results)
    hf_total, hf_count = _hf_nll(hf, seqs, context, stride)
    assert count == hf_count == sum(len(s) - 1 for s in seqs)
    assert math.exp(nll / count) == pytest.approx(math.exp(hf_total / hf_count), rel=1e-4)


def test_batching_and_padding_do_not_change_scores(hf_pair):
    _, ours = hf_pair
    rng = np.random.default_rng(2)
    seqs = [[299, *rng.integers(0, 299, n).tolist()] for n in (5, 70, 12)]
    one = score_sequences(ours, seqs, context=32, stride=16, batch_size=1)
    many = score_sequences(ours, seqs, context=32, stride=16, batch_size=8)
    for (a, ta), (b, tb) in zip(one, many, strict=True):
        # Log-softmax adds one sum over the vocabulary to the network's chain of sums.
        terms = gpt_terms(2, 32) + 300
        assert_float32_close(torch.from_numpy(b), torch.from_numpy(a), terms=terms)
        assert (ta == tb).all()


def test_score_only_last_tokens(hf_pair):
    hf, ours = hf_pair
    seq = [299, 5, 6, 7, 8, 9, 10]
    ((logp, _),) = score_sequences(ours, [seq], context=32, score_only_last=[2])
    with torch.no_grad():
        logits = hf(input_ids=torch.tensor([seq[:-1]])).logits[0]
    want = torch.log_softmax(logits, -1)[[-2, -1], [9, 10]].numpy()
    terms = gpt_terms(2, 32) + 300
    assert_float32_close(torch.from_numpy(logp[-2:]), torch.from_numpy(want), terms=terms)
