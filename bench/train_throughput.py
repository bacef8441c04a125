"""Training throughput: our GPT-2 step vs a nanoGPT-configured baseline, and the data loader.

GPU (the real benchmark; one process, one GPU):
    python bench/train_throughput.py --json bench_out/train_throughput.json
        GPT-2 small at sequence 1024 with micro-batch 16/32/64 and GPT-2 medium at 32, both
        models compiled with bf16 autocast and fused AdamW; prints tokens/s, MFU against the
        chip's dense bf16 peak (H100 SXM: 989 TFLOP/s; --peak-tflops to override) and the
        ratio ours/baseline. Ours is timed in each of its variants (--ours-variants).
    Split a long sweep over several calls with --runs (e.g. --runs small:32,small:64); each
    call appends its rows to the --json file.
CPU smoke test (a few seconds; exercises every code path except CUDA-only ones):
    python bench/train_throughput.py --device cpu --tiny

A timed step is one optimizer step: ``--accum`` micro-batches forward+backward, gradient
clipping, AdamW. Both implementations start from the same weights (the baseline copies ours)
and see the same batches, so the loss each reports after the timed steps must agree to bf16
precision: the comparison is between two implementations of one model with the same numerics.
Data come from device tensors made up front, so the step is timed without the loader; the
loader is timed separately on real Parquet token shards and compared with the fastest training
rate (it must deliver >= 10x).

Variants of ours (combine with '+', e.g. cudnn+chunked-loss):
    plain          the trainer's default settings
    chunked-loss   loss and its gradient in 4 slices (no full float32 logits, no recompute)
    cudnn / flash  pin the SDPA kernel (webtext train --attention)
    autotune       torch.compile mode max-autotune-no-cudagraphs (long compile)
    cudagraphs     torch.compile mode reduce-overhead (CUDA graphs)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# bench/ last: its script names (dedup.py, overlap.py, ...) must not shadow the packages.
sys.path.append(str(Path(__file__).resolve().parent))

from nanogpt_baseline import BaselineGPT  # noqa: E402
from synthetic import write_token_shards  # noqa: E402

from model.data import TokenBatches, read_split  # noqa: E402
from model.gpt2 import GPT2, attention_backend, config_for  # noqa: E402

H100_PEAK = 989e12

# name -> (our config name, overrides)
SIZES = {
    "small": ("gpt2", {}),
    "medium": ("gpt2-medium", {}),
    "tiny": ("tiny", {"vocab_size": 50257}),
}

VARIANTS: dict[str, dict] = {
    "plain": {},
    "chunked-loss": {"loss_chunks": 4},
    "cudnn": {"attention": "cudnn"},
    "flash": {"attention": "flash"},
    "autotune": {"compile_mode": "max-autotune-no-cudagraphs"},
    "cudagraphs": {"compile_mode": "reduce-overhead"},
}


def parse_variant(spec: str) -> dict:
    """'cudnn+chunked-loss' -> merged settings (unknown names are an error naming them)."""
    settings: dict = {"name": spec}
    for part in spec.split("+"):
        if part not in VARIANTS:
            raise SystemExit(f"unknown variant {part!r} in {spec!r}; known: {', '.join(VARIANTS)}")
        settings |= VARIANTS[part]
    return settings


@dataclass
class Row:
    impl: str
    size: str
    micro_batch: int
    tokens_per_s: float | None
    mfu: float | None
    ms_per_step: float | None
    peak_mem_gb: float | None
    final_loss: float | None
    compile_s: float | None
    note: str = ""


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build(impl: str, size: str, device: torch.device, variant: dict):
    """(model, optimizer, our config of the same shape); both impls start from one init."""
    name, overrides = SIZES[size]
    cfg = config_for(name, **overrides)
    fused = device.type == "cuda"
    torch.manual_seed(0)
    ours = GPT2(cfg).to(device)
    if impl == "baseline":
        model = BaselineGPT(
            cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size, cfg.padded_vocab_size
        ).to(device)
        model.load_from_gpt2(ours)
        del ours
        return model, model.optimizer(6e-4, fused=fused), cfg
    ours.loss_chunks = variant.get("loss_chunks", 1)
    groups = ours.optimizer_groups(0.1)
    return ours, torch.optim.AdamW(groups, lr=6e-4, betas=(0.9, 0.95), fused=fused), cfg


def time_impl(
    impl: str,
    size: str,
    micro_batch: int,
    args: argparse.Namespace,
    device: torch.device,
    variant: dict,
) -> Row:
    label = impl if impl == "baseline" else f"ours[{variant['name']}]"
    try:
        torch._dynamo.reset()  # fresh compile caches: no run inherits (or exhausts) another's
        model, optimizer, cfg = build(impl, size, device, variant)
        seq = args.seq_len or cfg.block_size
        with torch.device("meta"):  # the same FLOP count for both: the same architecture
            flops = GPT2(cfg).flops_per_token(seq)
        mode = variant.get("compile_mode")
        call = torch.compile(model, mode=mode) if args.compile else model
        gen = torch.Generator(device="cpu").manual_seed(1)
        blocks = [
            torch.randint(0, cfg.vocab_size, (micro_batch, seq + 1), generator=gen)
            for _ in range(args.accum)
        ]
        data = [
            (b[:, :-1].contiguous().to(device), b[:, 1:].contiguous().to(device)) for b in blocks
        ]
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        attention = variant.get("attention", "auto")

        def step() -> torch.Tensor:
            total = torch.zeros((), device=device)
            for x, y in data:
                with _autocast(device), attention_backend(attention):
                    _, loss = call(x, y)
                (loss / args.accum).backward()
                total += loss.detach()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return total / args.accum

        t0 = time.perf_counter()
        step()  # the first step compiles
        _sync(device)
        compile_s = time.perf_counter() - t0
        for _ in range(args.warmup - 1):
            step()
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            last = step()
        _sync(device)
        dt = (time.perf_counter() - t0) / args.steps
        final_loss = float(last)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return Row(label, size, micro_batch, None, None, None, None, None, None, "out of memory")
    except RuntimeError as exc:  # e.g. a pinned attention kernel that cannot run these shapes
        first_line = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else repr(exc)
        return Row(label, size, micro_batch, None, None, None, None, None, None, first_line)
    tok_s = micro_batch * seq * args.accum / dt
    peak = (
        args.peak_tflops * 1e12
        if args.peak_tflops
        else (H100_PEAK if device.type == "cuda" else None)
    )
    mem = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    mfu = flops * tok_s / peak if peak else None
    return Row(label, size, micro_batch, tok_s, mfu, dt * 1000, mem, final_loss, compile_s)


def loader_throughput(args: argparse.Namespace, micro_batch: int, seq: int) -> tuple[float, float]:
    """(tokens/s reading Parquet shards into the array, tokens/s serving batches)."""
    rng = np.random.default_rng(0)
    n_docs, doc_len = (200, 1000) if args.tiny else (20_000, 1000)
    docs = [(f"d{i}", "train", rng.integers(0, 50257, doc_len)) for i in range(n_docs)]
    with tempfile.TemporaryDirectory() as tmp:
        write_token_shards(Path(tmp), docs, num_shards=8)
        t0 = time.perf_counter()
        tokens = read_split(tmp, "train", vocab_size=50257)
        read_rate = len(tokens) / (time.perf_counter() - t0)
    accum = max(1, min(8, (len(tokens) - 1) // seq // micro_batch))
    stream = TokenBatches(tokens, seq, micro_batch, accum, seed=0)
    steps = 20 if args.tiny else 200
    t0 = time.perf_counter()
    for _ in range(steps):
        stream.next_step()
    serve_rate = steps * accum * micro_batch * seq / (time.perf_counter() - t0)
    return read_rate, serve_rate


def _fmt(x: float | None, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def print_row(r: Row) -> None:
    print(
        f"  {r.impl:<28} {r.size:<7} mb {r.micro_batch:<3} "
        f"{_fmt(r.tokens_per_s, ',.0f'):>12} tok/s  MFU {_fmt(r.mfu, '.1%'):>6}  "
        f"{_fmt(r.ms_per_step, '.1f'):>8} ms/step  mem {_fmt(r.peak_mem_gb, '.1f')} GB  "
        f"loss {_fmt(r.final_loss, '.4f')}  compile {_fmt(r.compile_s, '.0f')} s {r.note}",
        flush=True,
    )


def ratios(rows: list[Row]) -> list[str]:
    """'small mb 32: ours[cudnn] 1.23x (loss 10.98 vs 10.98)' per ours-row with a baseline."""
    lines = []
    for key in dict.fromkeys((r.size, r.micro_batch) for r in rows):
        same = [r for r in rows if (r.size, r.micro_batch) == key and r.tokens_per_s]
        base = next((r for r in same if r.impl == "baseline"), None)
        for r in same:
            if r.impl == "baseline":
                continue
            ratio = f"{r.tokens_per_s / base.tokens_per_s:.2f}x" if base else "n/a"
            losses = (
                f" (loss {r.final_loss:.4f} vs baseline {base.final_loss:.4f})"
                if base and r.final_loss is not None and base.final_loss is not None
                else ""
            )
            lines.append(f"  {key[0]} mb {key[1]}: {r.impl} {ratio}{losses}")
    return lines


SIZE_NAMES = {"small": "GPT-2 small", "medium": "GPT-2 medium", "tiny": "tiny"}


def markdown_table(runs: list[dict]) -> str:
    """The BENCHMARKS table from --json results: per (size, micro-batch), the baseline and our
    fastest variant, the latest measurement of each winning over earlier ones."""
    latest: dict[tuple[str, int, str], dict] = {}
    for run in runs:
        for row in run["rows"]:
            if row["tokens_per_s"]:
                latest[(row["size"], row["micro_batch"], row["impl"])] = row

    def cell(row: dict | None) -> str:
        if row is None:
            return "n/a"
        mfu = f" ({row['mfu']:.1%})" if row["mfu"] is not None else ""
        return f"{row['tokens_per_s']:,.0f}{mfu}"

    lines = [
        "| model | micro-batch | baseline tok/s (MFU) | ours best tok/s (MFU) | variant | "
        "ours/baseline |",
        "| --- | ---: | ---: | ---: | --- | ---: |",
    ]
    order = {"tiny": 0, "small": 1, "medium": 2}
    for size, mb in sorted({k[:2] for k in latest}, key=lambda k: (order.get(k[0], 9), k[1])):
        base = latest.get((size, mb, "baseline"))
        ours = [
            r for (sz, m, impl), r in latest.items() if (sz, m) == (size, mb) and impl != "baseline"
        ]
        best = max(ours, key=lambda r: r["tokens_per_s"], default=None)
        ratio = f"{best['tokens_per_s'] / base['tokens_per_s']:.2f}x" if best and base else "n/a"
        variant = best["impl"].removeprefix("ours[").removesuffix("]") if best else ""
        lines.append(
            f"| {SIZE_NAMES.get(size, size)} | {mb} | {cell(base)} | {cell(best)} | {variant} | "
            f"{ratio} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--tiny", action="store_true", help="tiny model, short sequences (smoke test)")
    p.add_argument(
        "--runs", default=None, help="size:micro,... (default small:16,small:32,small:64,medium:32)"
    )
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 20; tiny 3)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps (default 5; tiny 1)")
    p.add_argument("--accum", type=int, default=None, help="micro-batches per step (default 4)")
    p.add_argument("--seq-len", type=int, default=None, help="default: 1024 (tiny: 64)")
    p.add_argument("--no-compile", dest="compile", action="store_false")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--no-loader", action="store_true", help="skip the data-loader measurement")
    p.add_argument(
        "--ours-variants",
        default="plain,cudnn,cudnn+chunked-loss",
        help="comma-separated; see the variants above (default: %(default)s)",
    )
    p.add_argument("--peak-tflops", type=float, help="dense bf16 peak (default: H100 989)")
    p.add_argument("--json", type=Path, help="append the results to this JSON file")
    p.add_argument(
        "--table",
        type=Path,
        metavar="JSON",
        help="only print the Markdown table of a --json file's results (for BENCHMARKS.md)",
    )
    args = p.parse_args(argv)
    if args.table:
        print(markdown_table(json.loads(args.table.read_text())))
        return 0

    device = torch.device(args.device)
    if args.tiny:
        args.runs = args.runs or "tiny:2,tiny:4"
        args.steps, args.warmup = args.steps or 3, args.warmup or 1
        args.accum, args.seq_len = args.accum or 1, args.seq_len or 64
    args.runs = args.runs or "small:16,small:32,small:64,medium:32"
    args.steps, args.warmup, args.accum = args.steps or 20, args.warmup or 5, args.accum or 4
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        args.compile = False  # CPU: compile time would swamp a smoke test
    chosen = [parse_variant(v) for v in args.ours_variants.split(",") if v]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    header = (
        f"device: {name} | torch {torch.__version__} | compile {args.compile} | "
        f"bf16 autocast {device.type == 'cuda'} | accum {args.accum} | timed steps {args.steps}"
    )
    print(header, flush=True)

    rows: list[Row] = []
    for spec in args.runs.split(","):
        size, mb = spec.split(":")
        runs = [] if args.no_baseline else [("baseline", {"name": "baseline"})]
        runs += [("ours", v) for v in chosen]
        for impl, variant in runs:
            rows.append(time_impl(impl, size, int(mb), args, device, variant))
            if device.type == "cuda":
                torch.cuda.empty_cache()  # the timed model is gone; free its cached blocks
            print_row(rows[-1])

    print("\nratio ours/baseline (tokens/s):")
    print("\n".join(ratios(rows)))

    loader = None
    fastest = max((r.tokens_per_s for r in rows if r.tokens_per_s), default=0.0)
    if not args.no_loader and fastest:
        mb = int(args.runs.split(",")[0].split(":")[1])
        read_rate, serve_rate = loader_throughput(args, mb, args.seq_len or 1024)
        loader = {"read_tokens_per_s": read_rate, "serve_tokens_per_s": serve_rate}
        print(
            f"\ndata loader: read shards {read_rate:,.0f} tok/s | serve batches "
            f"{serve_rate:,.0f} tok/s = {serve_rate / fastest:.1f}x the fastest training rate "
            f"({fastest:,.0f} tok/s)"
        )
    if args.json:
        previous = json.loads(args.json.read_text()) if args.json.exists() else []
        previous.append(
            {
                "header": header,
                "date": time.strftime("%Y-%m-%d"),
                "rows": [asdict(r) for r in rows],
                "loader": loader,
            }
        )
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(previous, indent=1))
        tmp.replace(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
