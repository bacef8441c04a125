"""The trainer on CPU: exact resume, metrics, bad input, divergence, checkpoint safety."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
import torch
from synthetic import write_token_shards

from model.checkpoint import CheckpointError, checkpoint_path, load_checkpoint
from model.data import TokenDataError
from model.train import TrainConfig, TrainingDiverged, lr_at, read_metrics, train

VOCAB = 64


def _tokens_dir(path, seed=0, vocab=VOCAB, n_docs=60, tokenizer=True):
    rng = np.random.default_rng(seed)
    # Learnable but not trivial: documents repeat short motifs.
    motifs = [rng.integers(0, vocab - 1, 5) for _ in range(6)]
    docs = []
    for i in range(n_docs):
        body = np.concatenate([motifs[j] for j in rng.integers(0, 6, 12)])
        docs.append((f"d{i}", "val" if i % 6 == 0 else "train", np.append(body, vocab - 1)))
    write_token_shards(path, docs, num_shards=3)
    if tokenizer:
        tok = path / "_tokenizer"
        tok.mkdir(exist_ok=True)
        (tok / "encoder.json").write_text(json.dumps({f"t{i}": i for i in range(vocab)}))
        (tok / "vocab.bpe").write_text("#version: 0.2\n")
    return path


def _cfg(tokens, out, **kw):
    base = dict(
        tokens_dir=str(tokens),
        out_dir=str(out),
        model="tiny",
        steps=8,
        batch_tokens=4 * 16,
        micro_batch=2,
        seq_len=16,
        lr=3e-3,
        warmup_steps=2,
        eval_interval=4,
        eval_batches=2,
        ckpt_interval=100,
        log_interval=4,
        device="cpu",
        dropout=0.1,
        seed=5,
    )
    return TrainConfig(**(base | kw))


def _losses(run):
    return [m["loss"] for m in read_metrics(run) if "loss" in m]


def test_resume_is_exact(tmp_path):
    tokens = _tokens_dir(tmp_path / "tokens")
    straight = train(_cfg(tokens, tmp_path / "a"))
    assert straight.step == 8
    half = train(_cfg(tokens, tmp_path / "b", stop_at=4))
    assert half.step == 4 and load_checkpoint(tmp_path / "b")["step"] == 4
    resumed = train(_cfg(tokens, tmp_path / "b", resume=True))
    assert resumed.step == 8
    a, b = _losses(tmp_path / "a"), _losses(tmp_path / "b")
    assert len(a) == len(b) == 8
    assert a == b  # bit-identical, dropout included
    assert straight.val_loss == resumed.val_loss
    assert a[-1] < a[0]
    sa = load_checkpoint(tmp_path / "a")["model"]
    sb = load_checkpoint(tmp_path / "b")["model"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_metrics_of_redone_steps_are_not_duplicated(tmp_path):
    tokens = _tokens_dir(tmp_path / "tokens")
    run = tmp_path / "run"
    train(_cfg(tokens, run, stop_at=3))
    step3 = checkpoint_path(run).read_bytes()
    train(_cfg(tokens, run, resume=True, stop_at=6))  # metrics now reach step 6
    # a crash before step 6's checkpoint landed would leave the step-3 checkpoint
    checkpoint_path(run).write_bytes(step3)
    train(_cfg(tokens, run, resume=True))
    steps = [m["step"] for m in read_metrics(run) if "loss" in m]
    assert steps == list(range(1, 9))
    assert [m["step"] for m in read_metrics(run) if "val_loss" in m] == [4, 8]
    train(_cfg(tokens, tmp_path / "straight"))
    assert _losses(run) == _losses(tmp_path / "straight")


def test_init_from_starts_with_the_other_runs_weights(tmp_path):
    tokens = _tokens_dir(tmp_path / "tokens")
    train(_cfg(tokens, tmp_path / "base", steps=12, dropout=0.0))
    base = load_checkpoint(tmp_path / "base")
    tuned = train(_cfg(tokens, tmp_path / "tuned", steps=2, init_from=str(tmp_path / "base")))
    fresh = train(_cfg(tokens, tmp_path / "fresh", steps=2))
    first = {name: _losses(tmp_path / name)[0] for name in ("tuned", "fresh")}
    assert first["tuned"] < first["fresh"] - 0.3
    assert tuned.step == fresh.step == 2
    assert load_checkpoint(tmp_path / "tuned")["step"] == 2  # its own schedule, from 0
    assert base["step"] == 12
    with pytest.raises(CheckpointError, match="another model config"):
        train(_cfg(tokens, tmp_path / "x", model="mini", init_from=str(tmp_path / "base")))


def test_metrics_and_run_dir_contents(tmp_path):
    tokens = _tokens_dir(tmp_path / "tokens")
    train(_cfg(tokens, tmp_path / "run"))
    rec = read_metrics(tmp_path / "run")[0]
    assert set(rec) >= {"step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "mfu"}
    assert rec["mfu"] is None  # CPU: no meaningful peak
    assert rec["tokens"] == 64 and rec["tokens_per_s"] > 0
    assert (tmp_path / "run" / "tokenizer" / "encoder.json").exists()
    assert not list((tmp_path / "run").glob(".*tmp*"))


def test_lr_schedule_warmup_then_cosine():
    cfg = TrainConfig("t", "o", steps=110, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.55)
    assert lr_at(110, cfg) == pytest.approx(0.1)
    lrs = [lr_at(s, cfg) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def test_existing_run_needs_resume_and_matching_settings(tmp_path):
    tokens = _tokens_dir(tmp_path / "tokens")
    train(_cfg(tokens, tmp_path / "run", steps=2))
    with pytest.raises(ValueError, match="pass --resume"):
        train(_cfg(tokens, tmp_path / "run", steps=4))
    with pytest.raises(CheckpointError, match="batch-tokens was 64, now 128"):
        train(_cfg(tokens, tmp_path / "run", steps=4, resume=True, batch_tokens=128))
    with pytest.raises(CheckpointError, match="another model config: n_layer"):
        train(_cfg(tokens, tmp_path / "run", steps=4, resume=True, model="mini"))
    other = _tokens_dir(tmp_path / "other")
    (other / "_tokenizer" / "vocab.bpe").write_text("#version: 0.2\na b\n")
    with pytest.raises(CheckpointError, match="another tokenizer"):
        train(_cfg(other, tmp_path / "run", steps=4, resume=True))


def test_out_of_vocabulary_tokens_and_vocab_disagreement(tmp_path):
    tokens = _tokens_dir(tmp_path / "tokens", vocab=VOCAB, tokenizer=False)
    with pytest.raises(TokenDataError, match="token id 63 is outside the vocabulary of 50"):
        train(_cfg(tokens, tmp_path / "run", vocab_size=50))
    with pytest.raises(ValueError, match="no _tokenizer/encoder.json: pass --vocab-size"):
        train(_cfg(tokens, tmp_path / "run2"))
    tok = _tokens_dir(tmp_path / "tok2")
    with pytest.raises(ValueError, match="--vocab-size 100 disagrees"):
        train(_cfg(tok, tmp_path / "run3", vocab_size=100))
    with pytest.raises(ValueError, match="not a multiple of micro-batch x seq-len"):
        train(_cfg(tok, tmp_path / "run4", batch_tokens=50))


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    tokens = _tokens_dir(tmp_path / "tokens")
    run = tmp_path / "run"
    with pytest.raises(
        TrainingDiverged, match=r"at step (\d+).*last good checkpoint \(step"
    ) as info:
        train(_cfg(tokens, run, lr=1e30, warmup_steps=1, ckpt_interval=1, steps=20, dropout=0.0))
    bad_step = int(info.value.args[0].split("at step ")[1].split(";")[0])
    state = load_checkpoint(run)
    assert state["step"] == bad_step - 1
    assert all(torch.isfinite(t).all() for t in state["model"].values()) or bad_step > 1
    assert all(math.isfinite(m["loss"]) for m in read_metrics(run) if "loss" in m)


def test_truncated_and_unsafe_checkpoints_are_refused(tmp_path):
    tokens = _tokens_dir(tmp_path / "tokens")
    train(_cfg(tokens, tmp_path / "run", steps=2))
    path = checkpoint_path(tmp_path / "run")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        train(_cfg(tokens, tmp_path / "run", steps=4, resume=True))

    class Payload:  # any class: weights_only must refuse to construct it
        def __reduce__(self):
            return (print, ("unpickled!",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "webtext-gpt2", "version": 1, "x": Payload()}, evil)
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_checkpoint(evil)
    plain = tmp_path / "plain.pt"
    torch.save({"hello": torch.zeros(1)}, plain)
    with pytest.raises(CheckpointError, match="not a webtext GPT-2 checkpoint"):
        load_checkpoint(plain)
    assert pickle  # imported for clarity of what is being refused


@pytest.mark.slow
def test_tiny_model_beats_unigram_on_real_prose(tmp_path, shared_file):
    """Byte-level tokens of a real book: validation loss must fall below the unigram's."""
    import tarfile

    with tarfile.open(shared_file("prose", "nltk_gutenberg_17books.tar.xz"), "r:xz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("austen-emma.txt"))
        text = tar.extractfile(member).read()[:300_000]
    data = np.frombuffer(text, dtype=np.uint8).astype(np.uint16)
    cut = int(len(data) * 0.9)
    train_ids, val_ids = data[:cut], data[cut:]
    docs = [
        (f"t{i}", "train", np.append(train_ids[i : i + 5000], 256)) for i in range(0, cut, 5000)
    ]
    docs.append(("v", "val", np.append(val_ids, 256)))
    write_token_shards(tmp_path / "tokens", docs)
    counts = np.bincount(train_ids, minlength=257) + 1.0
    unigram = float(-np.log(counts / counts.sum())[val_ids].mean())
    result = train(
        _cfg(
            tmp_path / "tokens",
            tmp_path / "run",
            vocab_size=257,
            steps=60,
            seq_len=64,
            micro_batch=8,
            batch_tokens=8 * 64,
            lr=3e-3,
            warmup_steps=5,
            eval_interval=60,
            eval_batches=8,
            dropout=0.0,
        )
    )
    assert unigram > 3.0  # English bytes: ~4.4 bits
    assert result.val_loss < unigram - 0.1, (result.val_loss, unigram)  # measured 2.81 vs 3.05


def test_pinned_attention_kernels_train_the_same_and_bad_choices_are_refused(tmp_path):
    tokens = _tokens_dir(tmp_path / "tokens")
    runs = {}
    for name in ("auto", "math", "flash"):
        train(_cfg(tokens, tmp_path / name, dropout=0.0, attention=name))
        runs[name] = _losses(tmp_path / name)
    assert np.allclose(runs["math"], runs["auto"], atol=1e-4), runs
    assert np.allclose(runs["flash"], runs["auto"], atol=1e-4), runs
    with pytest.raises(ValueError, match="--attention cudnn needs a CUDA device"):
        train(_cfg(tokens, tmp_path / "cudnn", attention="cudnn"))
    with pytest.raises(ValueError, match="--attention 'fastest'"):
        train(_cfg(tokens, tmp_path / "bad", attention="fastest"))


@pytest.mark.slow
def test_gpu_settings_run_on_cpu_compiled_bf16_and_chunked(tmp_path):
    """The settings a GPU run uses (compile, bf16 autocast, chunked loss) on CPU: the losses
    track the float32 eager run, so a graph break or a numerics slip shows up without a GPU."""
    tokens = _tokens_dir(tmp_path / "tokens")
    train(_cfg(tokens, tmp_path / "eager", dropout=0.0, steps=4))
    train(
        _cfg(
            tokens,
            tmp_path / "gpu-like",
            dropout=0.0,
            steps=4,
            compile=True,
            dtype="bfloat16",
            loss_chunks=2,
        )
    )
    eager, gpu_like = _losses(tmp_path / "eager"), _losses(tmp_path / "gpu-like")
    assert len(eager) == len(gpu_like) == 4
    assert np.allclose(eager, gpu_like, rtol=0.02), (eager, gpu_like)  # bf16: ~3 digits
    assert gpu_like[-1] < gpu_like[0]
