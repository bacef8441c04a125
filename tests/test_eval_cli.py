"""`webtext eval` and `webtext report` on a small real run (a random GPT-2 imported through the
Hugging Face converter, with a BPE trained here), real test files, and bad input."""

from __future__ import annotations

import json
import math
import sys

import pyarrow.parquet as pq
import pytest

from pipeline.cli import main

SENTENCES = [
    "The council approved the new budget after a long debate about schools and roads.",
    "Engineers tested the bridge for three weeks before it opened to traffic in spring.",
    "A small team of researchers published their results on solar panels last year.",
    "Teachers said the plan would help students who travel far to reach the school.",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    import torch

    from model.hf_convert import import_to_run
    from model.tokenizer import train_bpe

    root = tmp_path_factory.mktemp("evalrun")
    tok = train_bpe(SENTENCES * 20, vocab_size=400)
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        vocab_size=tok.vocab_size, n_positions=64, n_embd=32, n_layer=2, n_head=4
    )
    transformers.GPT2LMHeadModel(cfg).save_pretrained(root / "hf")
    run = root / "run"
    import_to_run(root / "hf", run)
    tok.save(run / "tokenizer")
    return run


@pytest.fixture(scope="module")
def test_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tests")
    (d / "plain.txt").write_text("\n\n".join(SENTENCES) + "\n", encoding="utf-8")
    with open(d / "lambada_small.jsonl", "w", encoding="utf-8") as f:
        for s in SENTENCES:
            f.write(json.dumps({"text": s.rstrip(".")}) + "\n")
    (d / "text8").write_text(
        " ".join(s.lower().rstrip(".") for s in SENTENCES * 3), encoding="utf-8"
    )
    (d / "enwik8").write_bytes(("\n".join(SENTENCES) + "\nCaf\u00e9 na\u00efve\n").encode())
    return d


def _eval(run_dir, out, *specs, extra=()):
    args = ["eval", str(run_dir), "--out", str(out), "--no-progress", "--context", "32"]
    for s in specs:
        args += ["--test", s]
    return main(args + list(extra))


def test_eval_metrics_and_examples(run_dir, test_files, tmp_path):
    out = tmp_path / "eval"
    assert _eval(run_dir, out, f"plain={test_files / 'plain.txt'}",
                 f"lam={test_files / 'lambada_small.jsonl'}", f"t8={test_files / 'text8'}",
                 f"ew={test_files / 'enwik8'}", extra=["--stride", "16"]) == 0  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    sets = {s["test_set"]: s for s in summary["sets"]}
    assert sets["lam"]["format"] == "lambada" and sets["t8"]["unit"] == "char"
    assert sets["ew"]["unit"] == "byte"
    for name, s in sets.items():
        rows = pq.read_table(out / "examples" / f"{name}.parquet").to_pylist()
        nll = sum(r["nll"] for r in rows)
        assert s["nll_nats"] == pytest.approx(nll)
        assert s["ppl_per_token"] == pytest.approx(math.exp(nll / s["tokens"]))
        unit = s["unit"]
        assert s[f"bits_per_{unit}"] == pytest.approx(nll / s["units"] / math.log(2))
        assert s["bytes"] == sum(r["n_bytes"] for r in rows)  # bits per byte beside every set
        assert s["bits_per_byte"] == pytest.approx(nll / s["bytes"] / math.log(2))
    assert sets["ew"]["bytes"] == sets["ew"]["units"]  # enwik8's unit is the byte
    assert sets["lam"]["bytes"] == sum(len(s.rstrip(".").split()[-1]) for s in SENTENCES)
    # enwik8 counts UTF-8 bytes; text8 characters; plain text words; LAMBADA one target word each
    assert sets["ew"]["units"] == len((test_files / "enwik8").read_bytes())
    assert sets["t8"]["units"] == len((test_files / "text8").read_text())
    assert sets["plain"]["units"] == sum(len(s.split()) for s in SENTENCES)
    assert sets["lam"]["units"] == 4 and 0.0 <= sets["lam"]["accuracy"] <= 1.0
    assert [
        r["doc_index"] for r in pq.read_table(out / "examples" / "plain.parquet").to_pylist()
    ] == [0, 1, 2, 3]
    # random weights over ~400 ids: loss near log(vocab)
    assert abs(sets["plain"]["loss_per_token"] - math.log(400)) < 1.0


def test_eval_is_deterministic_and_stride_matters(run_dir, test_files, tmp_path):
    spec = f"t8={test_files / 'text8'}"
    _eval(run_dir, tmp_path / "a", spec)
    _eval(run_dir, tmp_path / "b", spec)
    _eval(run_dir, tmp_path / "c", spec, extra=["--stride", "8"])
    a, b, c = (json.loads((tmp_path / x / "summary.json").read_text())["sets"][0] for x in "abc")
    assert a["nll_nats"] == b["nll_nats"]
    assert a["tokens"] == c["tokens"] and a["nll_nats"] != c["nll_nats"]


def test_eval_real_test_sets(run_dir, shared_file, tmp_path):
    lam = shared_file("testsets", "lambada", "lambada_test.jsonl")
    wt2 = shared_file("testsets", "wikitext-2", "test.txt")
    out = tmp_path / "eval"
    assert _eval(run_dir, out, f"lambada={lam}", f"wt2={wt2}", extra=["--max-docs", "3"]) == 0
    sets = {s["test_set"]: s for s in json.loads((out / "summary.json").read_text())["sets"]}
    assert sets["wt2"]["detokenized"] and sets["wt2"]["unit"] == "word"
    assert sets["lambada"]["examples"] == 3 and sets["lambada"]["units"] == 3
    # de-tokenizing changes the tokens the model sees, not the words counted
    assert (
        _eval(
            run_dir,
            tmp_path / "raw",
            f"wt2={wt2}",
            extra=["--max-docs", "3", "--detokenize", "none"],
        )
        == 0
    )
    raw = json.loads((tmp_path / "raw" / "summary.json").read_text())["sets"][0]
    assert raw["units"] == sets["wt2"]["units"] and raw["tokens"] != sets["wt2"]["tokens"]


@pytest.mark.parametrize(
    "content,spec_fmt,message",
    [
        ('{"text": "oneword"}\n', "lam:lambada", "needs context and a last word"),
        ("", "empty:text", "no documents"),
        ("x", "bad:csv", "unknown format 'csv'"),
    ],
)
def test_eval_bad_input(run_dir, tmp_path, capsys, content, spec_fmt, message):
    path = tmp_path / "input.txt"
    path.write_text(content, encoding="utf-8")
    assert _eval(run_dir, tmp_path / "out", f"{spec_fmt}={path}") == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "summary.json").exists()


def test_report_names_missing_parts(run_dir, tmp_path):
    out = tmp_path / "report"
    assert (
        main(["report", str(run_dir), "--out", str(out), "--overlap", str(tmp_path / "nope")]) == 0
    )
    data = json.loads((out / "report.json").read_text())
    assert set(data["not_built"]) == {"corpus_card", "overlap_table", "overlap_distribution",
                                      "metrics_by_overlap", "train_vs_heldout", "memorization"}  # fmt: skip
    assert "does not exist" in data["not_built"]["overlap_table"]
    assert "no metrics.jsonl" in data["not_built"]["train_vs_heldout"]
    assert "--corpus" in data["not_built"]["memorization"]
    page = (out / "index.html").read_text()
    assert "Sections not built" in page and page.count("<section") == 6


def test_eval_bits_per_byte_counts_utf8_bytes(run_dir, tmp_path):
    """bpb = total NLL (nats) / ln 2 / UTF-8 bytes of the original text, bytes not characters."""
    paras = [
        "Caf\u00e9 cr\u00e8me, na\u00efve fa\u00e7ade: \u00fcber-cool.",
        "\u6771\u4eac and \u041c\u043e\u0441\u043a\u0432\u0430 are capitals \U0001f600.",
        "Plain ASCII closes the file.",
    ]
    path = tmp_path / "utf8.txt"
    path.write_text("\n\n".join(paras) + "\n", encoding="utf-8")
    out = tmp_path / "eval"
    assert _eval(run_dir, out, f"u={path}") == 0
    s = json.loads((out / "summary.json").read_text())["sets"][0]
    n_bytes = sum(len(p.encode("utf-8")) for p in paras)
    # 5 two-byte Latin letters, 6 two-byte Cyrillic, 2 three-byte CJK, 1 four-byte emoji
    assert s["bytes"] == n_bytes == sum(len(p) for p in paras) + 5 + 6 + 2 * 2 + 3
    rows = pq.read_table(out / "examples" / "u.parquet").to_pylist()
    assert [r["n_bytes"] for r in rows] == [len(p.encode("utf-8")) for p in paras]
    assert s["nll_nats"] == sum(r["nll"] for r in rows)
    # the summary divides the same float sum: a few roundings apart at most
    assert s["bits_per_byte"] == pytest.approx(
        s["nll_nats"] / math.log(2) / n_bytes, rel=4 * sys.float_info.epsilon
    )
    assert f"{s['bits_per_byte']:.4f}" in _eval_stdout(run_dir, tmp_path / "again", f"u={path}")


def _eval_stdout(run_dir, out, spec) -> str:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert _eval(run_dir, out, spec) == 0
    return buf.getvalue()


def _target_nll(model, ids: list[int], k: int) -> float:
    """-log p of the last k ids given everything before them, straight from the model."""
    import torch

    with torch.no_grad():
        logits = model.logits(model.hidden_states(torch.tensor([ids[:-1]])))[0]
    logp = torch.log_softmax(logits.float(), -1)
    return -float(sum(logp[len(ids) - 1 - k + j, ids[len(ids) - k + j]] for j in range(k)))


def test_lambada_newline_word_and_prefix_eot(run_dir, tmp_path):
    """A last word after a line break is scored after the passage's own newline; the context is
    conditioned on <|endoftext|> always (default) or only when empty; summary.json says which."""
    from model.checkpoint import load_checkpoint, model_from_checkpoint
    from model.tokenizer import load_tokenizer

    passages = [SENTENCES[0] + "\n\nEngineers", SENTENCES[1].rstrip(".")]
    path = tmp_path / "lambada_nl.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in passages), encoding="utf-8")
    tok = load_tokenizer(run_dir / "tokenizer")
    model = model_from_checkpoint(load_checkpoint(run_dir))
    got = {}
    for mode in ("always", "empty-context"):
        out = tmp_path / mode
        extra = [] if mode == "always" else ["--prefix-eot", mode]
        assert _eval(run_dir, out, f"lam={path}", extra=extra) == 0
        summary = json.loads((out / "summary.json").read_text())
        assert summary["settings"]["prefix_eot"] == mode
        got[mode] = pq.read_table(out / "examples" / "lam.parquet").to_pylist()
    for i, text in enumerate(passages):
        ids = tok.encode(text)
        word = text.split()[-1]
        # the newline stays in the context: the target is "Engineers", not " Engineers"
        target = tok.encode(word if "\n" in text else " " + word)
        k = len(target)
        assert ids[-k:] == target
        for mode, seq in (("always", [tok.eot_id, *ids]), ("empty-context", ids)):
            row = got[mode][i]
            assert row["n_tokens"] == k and row["n_bytes"] == len(word.encode("utf-8"))
            want = _target_nll(model, seq, k)
            # float32 log-probs, summed over k tokens, batched differently: ~1e-6 relative
            assert row["nll"] == pytest.approx(want, rel=1e-5, abs=k * 1e-6)
        assert got["always"][i]["nll"] != got["empty-context"][i]["nll"]
