"""`webtext eval`: score test sets with a run's model; per-example rows and a summary.

For each test set (eval.testsets spec), every document is (optionally) de-tokenized, encoded
with the run's tokenizer and scored by eval.scoring. Written to EVAL_DIR:

  examples/NAME.parquet   one row per document (EXAMPLES schema): doc_index and doc_key as the
                          overlap stage numbers them (the report joins the two on them)
  summary.json            per set: loss per token, perplexity per token and per canonical unit
                          (word / byte / char), bits per unit, bits per byte, LAMBADA accuracy;
                          the settings (prefix_eot among them)

Metrics pool over the whole set (sum of log-losses / sum of counts), as the paper's figures do;
per-unit figures divide the same total by the units of the ORIGINAL text, so de-tokenizing
changes what the model sees but not what is counted. Bits per byte divide it by the UTF-8 bytes
of the original text (of each document; of the target word for LAMBADA), which makes numbers
comparable across tokenizers.

LAMBADA scores only the target, the passage's last whitespace-delimited word
(eval.testsets.split_lambada): the passage is tokenized as written, in one piece, and the
scored tokens are those from the one holding the word's first byte (:func:`lambada_ids`).
With GPT-2's byte-level BPE a single space before a word belongs to the word's token, so a
space-separated target is scored as " word" (OpenAI's convention), while a word after a
newline is scored as "word" after the newline tokens, as the passage reads. Accuracy is every
target token being the model's greedy choice, perplexity is per target word.

Conditioning on ``<|endoftext|>`` (``prefix_eot``): a document scored for perplexity has an
empty context, so it always starts from ``<|endoftext|>``. A LAMBADA context gets it too with
``always`` (as OpenAI's GPT-2 code conditioned every text on it as the start token) and only
when it is empty with ``empty-context`` (lm-evaluation-harness's rule).
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from eval.testsets import (
    TestSetError,
    TestSetSpec,
    canonical_unit,
    count_bytes,
    count_units,
    parse_test_specs,
    read_test_set,
    split_lambada,
)
from pipeline.io import shard_verify, shards

EXAMPLES = pa.schema(
    [
        pa.field("test_set", pa.string(), nullable=False),
        pa.field("doc_index", pa.int64(), nullable=False),  # position in the test set
        pa.field("doc_key", pa.string(), nullable=False),
        pa.field("n_tokens", pa.int64(), nullable=False),  # tokens scored
        pa.field("n_units", pa.int64(), nullable=False),  # canonical units (words/bytes/chars)
        pa.field("n_bytes", pa.int64(), nullable=False),  # UTF-8 bytes of the original text
        pa.field("nll", pa.float64(), nullable=False),  # summed negative log-likelihood, nats
        pa.field("correct", pa.bool_()),  # LAMBADA: target word predicted greedily; else null
    ],
    metadata={"webtext.stage": "eval-examples"},
)
SUMMARY_NAME = "summary.json"
from eval.eval_config import PREFIX_EOT, EvalConfig  # noqa: E402,F401 (re-exported)


@dataclass
class SetResult:
    name: str
    format: str
    unit: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    detokenized: bool = False

    def summary(self) -> dict[str, Any]:
        return summarize_rows(self.rows, self.unit, self.format) | {
            "test_set": self.name,
            "format": self.format,
            "detokenized": self.detokenized,
        }


def summarize_rows(rows: list[dict[str, Any]], unit: str, fmt: str) -> dict[str, Any]:
    """Pooled metrics of a list of example rows (also used by the report's overlap buckets)."""
    nll = float(sum(r["nll"] for r in rows))
    tokens = int(sum(r["n_tokens"] for r in rows))
    units = int(sum(r["n_units"] for r in rows))
    # Example files written before n_bytes existed have no byte counts: no bits per byte then.
    n_bytes = (
        int(sum(r["n_bytes"] for r in rows))
        if all(r.get("n_bytes") is not None for r in rows)
        else None
    )
    out: dict[str, Any] = {
        "examples": len(rows),
        "tokens": tokens,
        "units": units,
        "unit": unit,
        "bytes": n_bytes,
        "nll_nats": nll,
        "loss_per_token": nll / tokens if tokens else None,
        "ppl_per_token": math.exp(nll / tokens) if tokens else None,
        f"ppl_per_{unit}": math.exp(nll / units) if units else None,
        f"bits_per_{unit}": nll / units / math.log(2) if units else None,
        "bits_per_byte": nll / n_bytes / math.log(2) if n_bytes else None,
    }
    if fmt == "lambada":
        out["accuracy"] = sum(bool(r["correct"]) for r in rows) / len(rows) if rows else None
    return out


def resolve_device(spec: str) -> str:
    import torch

    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {spec}: no CUDA device is available")
    return spec


def lambada_ids(tokenizer, context: str, target: str) -> tuple[list[int], list[int]]:
    """(context ids, target ids) of a passage ``context + target``, tokenized in one piece as
    the model reads any text, cut before the token that holds the target's first byte.

    Only whitespace may lie between the cut and the target (with GPT-2's BPE: nothing, or the
    one space that its pre-tokenizer attaches to the next word), so the target ids are the
    word's own tokens and the context ids decode to ``context`` less at most that whitespace.
    A tokenizer whose token joins the word with non-blank context text is an error."""
    ids = tokenizer.encode(context + target)
    start = count_bytes(context)
    k, end = 0, 0  # tokens ids[:k] cover the first `end` bytes
    while k < len(ids) and end + len(piece := tokenizer.decode_bytes([ids[k]])) <= start:
        k, end = k + 1, end + len(piece)
    if k == len(ids):
        raise ValueError(f"LAMBADA target {target!r}: no tokens after the context")
    gap = context.encode("utf-8")[end:start]
    if gap.decode("utf-8", errors="replace").strip():
        raise ValueError(
            f"LAMBADA target {target!r}: the tokenizer joins it with the context text {gap!r}"
        )
    return ids[:k], ids[k:]


def conditioned(eot: int, context_ids: list[int], target_ids: list[int], prefix_eot: str):
    """The sequence to score: ``<|endoftext|>`` before the context always, or only where the
    context is empty (``empty-context``); the target follows."""
    if prefix_eot not in PREFIX_EOT:
        raise ValueError(f"prefix_eot must be one of {', '.join(PREFIX_EOT)}, got {prefix_eot!r}")
    if prefix_eot == "always" or not context_ids:
        return [eot, *context_ids, *target_ids]
    return [*context_ids, *target_ids]


def _encode_docs(
    spec: TestSetSpec, tokenizer, texts: list[str], keys: list[str], prefix_eot: str
) -> tuple[list[list[int]], list[int] | None, list[int]]:
    """Token sequences, for LAMBADA the target-token counts, and the UTF-8 bytes scored per
    document for bits per byte (LAMBADA: the target word's; else set by the caller)."""
    eot = tokenizer.eot_id
    if spec.format != "lambada":  # a document is scored from an empty context
        seqs = [conditioned(eot, [], ids, prefix_eot) for ids in tokenizer.encode_batch(texts)]
        return seqs, None, []
    seqs, lasts, n_bytes = [], [], []
    for key, text in zip(keys, texts, strict=True):
        context, target = split_lambada(spec.name, key, text)
        context_ids, target_ids = lambada_ids(tokenizer, context, target)
        seqs.append(conditioned(eot, context_ids, target_ids, prefix_eot))
        lasts.append(len(target_ids))
        n_bytes.append(count_bytes(target))
    return seqs, lasts, n_bytes


def evaluate_set(spec: TestSetSpec, model, tokenizer, config: EvalConfig, device: str) -> SetResult:
    from eval.detok import detokenizer_for
    from eval.scoring import Progress, score_sequences

    docs = read_test_set(spec)
    if config.max_docs is not None:
        docs = docs[: config.max_docs]
    indexed = [(i, d) for i, d in enumerate(docs) if d.text.strip()]
    if not indexed:
        raise TestSetError(f"{spec.describe()}: no non-empty documents")
    detok = detokenizer_for(spec.format) if config.detokenize == "auto" else None
    texts = [detok(d.text) if detok else d.text for _, d in indexed]
    keys = [d.key for _, d in indexed]
    seqs, lasts, target_bytes = _encode_docs(spec, tokenizer, texts, keys, config.prefix_eot)
    context = config.context or model.config.block_size
    if lasts is not None:
        seqs = [s[-(context + 1) :] for s in seqs]  # LAMBADA: keep the end (the target)
    progress = Progress(
        f"eval {spec.name}",
        sum(lasts) if lasts else sum(len(s) - 1 for s in seqs),
        enabled=config.progress,
    )
    scored = score_sequences(
        model,
        seqs,
        context=context,
        stride=config.stride,
        batch_size=config.batch_size,
        device=device,
        progress=progress,
        score_only_last=lasts,
    )
    result = SetResult(spec.name, spec.format, canonical_unit(spec.format), detokenized=bool(detok))
    for j, ((index, doc), (logp, top)) in enumerate(zip(indexed, scored, strict=True)):
        if lasts is not None:
            k = lasts[j]
            logp, top = logp[-k:], top[-k:]
            units, correct, n_bytes = 1, bool(top.all()), target_bytes[j]
        else:
            units, correct = count_units(spec.format, doc.text), None
            n_bytes = count_bytes(doc.text)
        result.rows.append(
            {
                "test_set": spec.name,
                "doc_index": index,
                "doc_key": doc.key,
                "n_tokens": int(len(logp)),
                "n_units": int(units),
                "n_bytes": int(n_bytes),
                "nll": float(-np.sum(logp)),
                "correct": correct,
            }
        )
    return result


def _parquet_bytes(rows: list[dict[str, Any]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=EXAMPLES), sink)
    return sink.getvalue()


def read_examples(eval_dir: str | Path) -> list[dict[str, Any]]:
    """Every example row of an eval directory (all sets)."""
    files = sorted((Path(eval_dir) / "examples").glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{eval_dir}: no examples/*.parquet (run webtext eval)")
    rows: list[dict[str, Any]] = []
    for f in files:
        try:
            table = shard_verify.open_parquet(str(f)).read()
        except (OSError, pa.ArrowException) as exc:  # one line naming the file, not a traceback
            raise shards.ShardError(
                f"{f} is damaged ({' '.join(str(exc).split())}); rerun `webtext eval` for "
                f"{eval_dir} to rewrite it"
            ) from exc
        rows.extend(table.to_pylist())
    return rows


def read_summary(eval_dir: str | Path) -> dict[str, Any]:
    path = Path(eval_dir) / SUMMARY_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{eval_dir}: no {SUMMARY_NAME} (run webtext eval)")
    return json.loads(path.read_text(encoding="utf-8"))


def run_eval(config: EvalConfig) -> dict[str, Any]:
    """Evaluate every test set; write examples/ and summary.json; return the summary."""
    import torch

    from model.checkpoint import load_checkpoint, model_from_checkpoint
    from model.tokenizer import load_tokenizer

    specs = parse_test_specs(config.tests)
    for spec in specs:  # fail on a bad test file before loading the model
        docs = read_test_set(spec)
        if spec.format == "lambada":
            for d in docs:
                split_lambada(spec.name, d.key, d.text)
    device = resolve_device(config.device)
    state = load_checkpoint(config.run_dir)
    model = model_from_checkpoint(state, device=device)
    tok_dir = Path(config.tokenizer_dir or Path(config.run_dir) / "tokenizer")
    if not tok_dir.is_dir():
        raise FileNotFoundError(f"no tokenizer at {tok_dir}: pass --tokenizer DIR")
    tokenizer = load_tokenizer(tok_dir)
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(
            f"tokenizer at {tok_dir} has {tokenizer.vocab_size} ids, the model "
            f"{model.config.vocab_size}"
        )
    context = config.context or model.config.block_size
    if not 1 <= context <= model.config.block_size:
        raise ValueError(f"--context must be in [1, {model.config.block_size}], got {context}")
    if config.stride is not None and not 1 <= config.stride <= context:
        raise ValueError(f"--stride must be in [1, context={context}], got {config.stride}")
    torch.manual_seed(0)
    results = [evaluate_set(spec, model, tokenizer, config, device) for spec in specs]
    out = Path(config.out_dir)
    for r in results:
        shards.write_bytes_atomic(
            str(out / "examples" / f"{r.name}.parquet"), _parquet_bytes(r.rows)
        )
    summary = {
        "run_dir": str(config.run_dir),
        "checkpoint_step": int(state.get("step", 0)),
        "settings": {k: v for k, v in asdict(config).items() if k not in ("progress",)}
        | {"context": context, "stride": config.stride or context, "device": device},
        "sets": [r.summary() for r in results],
    }
    shards.write_json_atomic(str(out / SUMMARY_NAME), summary)
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """A plain table of the summary for the terminal."""
    lines = [
        f"{'test set':<16} {'examples':>8} {'tokens':>10} {'loss/tok':>9} {'ppl/tok':>9} "
        f"{'bits/byte':>9}  per unit"
    ]
    for s in summary["sets"]:
        unit = s["unit"]
        per_unit = (
            f"{s[f'bits_per_{unit}']:.4f} bits/{unit}"
            if unit in ("byte", "char")
            else f"ppl/{unit} {s[f'ppl_per_{unit}']:.3f}"
        )
        if "accuracy" in s:
            per_unit += f", accuracy {s['accuracy']:.2%}"
        bpb = s.get("bits_per_byte")
        lines.append(
            f"{s['test_set']:<16} {s['examples']:>8,} {s['tokens']:>10,} "
            f"{s['loss_per_token']:>9.4f} {s['ppl_per_token']:>9.3f} "
            f"{'-' if bpb is None else f'{bpb:.4f}':>9}  {per_unit}"
        )
    return "\n".join(lines)
