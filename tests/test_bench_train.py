"""The training benchmark compares like with like: the nanoGPT-configured baseline computes the
same function as our GPT-2 from the same weights, and the benchmark records what it ran."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

# Appended, not prepended: bench/dedup.py and friends must not shadow the packages.
sys.path.append(str(Path(__file__).resolve().parent.parent / "bench"))

import train_throughput  # noqa: E402
from floats import assert_float32_close, float32_atol, gpt_terms  # noqa: E402
from nanogpt_baseline import BaselineGPT  # noqa: E402

from model.gpt2 import GPT2, config_for  # noqa: E402


def test_baseline_with_our_weights_computes_our_logits():
    torch.manual_seed(0)
    cfg = config_for("tiny", vocab_size=1000)  # padded to 1024 columns
    ours = GPT2(cfg).eval()
    base = BaselineGPT(cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size, cfg.padded_vocab_size)
    base.load_from_gpt2(ours)
    x = torch.randint(0, cfg.vocab_size, (3, 40))
    y = torch.randint(0, cfg.vocab_size, (3, 40))
    our_logits, our_loss = ours(x, y)
    base_logits, base_loss = base(x, y)
    terms = gpt_terms(cfg.n_layer, cfg.n_embd)
    assert_float32_close(base_logits[..., : cfg.vocab_size], our_logits, terms=terms)
    # The only difference: nanoGPT's softmax also spans the 24 padding columns, whose logits
    # are 0 (zero rows): log-sum-exp grows by log(1 + 24 / sum(exp(real logits))).
    real = torch.logsumexp(our_logits.double(), dim=-1)
    padded = torch.logaddexp(real, torch.tensor(math.log(24.0), dtype=torch.float64))
    expected_gap = (padded - real).mean()
    assert (base_loss - our_loss).item() == pytest.approx(
        expected_gap.item(), abs=float32_atol(our_loss, terms)
    )


def test_variants_combine_and_unknown_names_are_refused():
    assert train_throughput.parse_variant("cudnn+chunked-loss") == {
        "name": "cudnn+chunked-loss",
        "attention": "cudnn",
        "loss_chunks": 4,
    }
    with pytest.raises(SystemExit, match="unknown variant 'fast'"):
        train_throughput.parse_variant("plain+fast")


def test_cpu_smoke_run_records_rows_ratios_and_failures(tmp_path, capsys):
    out = tmp_path / "tt.json"
    args = ["--device", "cpu", "--tiny", "--runs", "tiny:2", "--steps", "1"]
    args += ["--ours-variants", "plain,cudnn", "--json", str(out)]
    assert train_throughput.main(args) == 0
    assert train_throughput.main(args + ["--no-loader"]) == 0  # a second call appends
    runs = json.loads(out.read_text())
    assert len(runs) == 2 and runs[0]["loader"]["serve_tokens_per_s"] > 0
    rows = {r["impl"]: r for r in runs[0]["rows"]}
    assert set(rows) == {"baseline", "ours[plain]", "ours[cudnn]"}
    assert rows["ours[plain]"]["tokens_per_s"] > 0
    # Same weights, same batches: the losses agree up to the padding columns' share.
    assert rows["ours[plain]"]["final_loss"] == pytest.approx(
        rows["baseline"]["final_loss"], abs=5e-3
    )
    # cuDNN attention cannot run on a CPU: the row says why instead of ending the sweep.
    assert rows["ours[cudnn]"]["tokens_per_s"] is None
    assert "No viable backend" in rows["ours[cudnn]"]["note"]
    assert "tiny mb 2: ours[plain]" in capsys.readouterr().out

    # The BENCHMARKS table: one line per size and micro-batch, our fastest variant beside the
    # baseline (the failed cuDNN row cannot win).
    assert train_throughput.main(["--table", str(out)]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert len(table) == 3 and table[2].startswith("| tiny | 2 | ")
    cells = [c.strip() for c in table[2].strip("|").split("|")]
    assert cells[4] == "plain" and cells[5].endswith("x")


def test_curve_plot_summarises_a_real_run(tmp_path):
    pytest.importorskip("matplotlib")  # absent on a bare GPU machine
    import plot_train_curve

    metrics = tmp_path / "metrics.jsonl"
    rows = [{"step": s, "loss": 5.0 - 0.1 * s, "tokens": 100 * s} for s in range(1, 31)]
    rows += [{"step": 10, "val_loss": 4.5}, {"step": 20, "val_loss": 4.0}]
    rows += [{"step": 30, "val_loss": 4.2}]
    metrics.write_text("".join(json.dumps(r) + "\n" for r in rows))
    png = tmp_path / "figures" / "curve.png"
    assert plot_train_curve.main([str(metrics), str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    train, val = plot_train_curve.read(metrics)
    s = plot_train_curve.summary(train, val, window=5)
    assert s["val_best"] == 4.0 and s["val_best_step"] == 20 and s["val_last"] == 4.2
    assert s["train_first"] == pytest.approx(4.7) and s["train_last"] == pytest.approx(2.2)
