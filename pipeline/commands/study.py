"""`webtext study`: corpus -> three-ish model sizes -> eval + overlap -> one report, resumable.

Each step is the `webtext` command a user would type (run in this process through
``pipeline.cli.main``), printed before it runs; a step whose output is complete is skipped,
so a rerun after a kill continues where it stopped. The pieces live in ``pipeline/study/``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_SHARED = "../shared/data"


@dataclass
class Step:
    title: str
    done: Callable[[], bool]
    argv: list[str] | None = None  # a `webtext` command line; None: ``action`` runs instead
    action: Callable[[], None] | None = None


def register(sub: argparse._SubParsersAction) -> None:
    from pipeline.study.presets import PRESETS

    p = sub.add_parser(
        "study",
        help="the report on real text: corpus, model sizes, eval, overlap, report (resumable)",
        description=(
            "Build a corpus from the real text in the shared data folder (Gutenberg books, "
            "Dragnet/CleanEval gold articles, WebText 'valid' prefixes), de-duplicate and "
            "tokenize it with GPT-2's files, train each model size of the preset on the same "
            "token budget, score every size on WikiText-2, PTB, LAMBADA and the WebText test "
            "prefixes, measure their 8-gram overlap with the corpus and write one report "
            "comparing the sizes. Each step skips when its output is complete: rerun the same "
            "command to continue after an interruption. Presets: "
            + "; ".join(
                f"{n}: {', '.join(p.models)} x {p.train_tokens:,} tokens on {p.device}"
                for n, p in PRESETS.items()
            )
        ),
    )
    p.add_argument("--out", default="study_out", help="working directory")
    p.add_argument(
        "--shared", default=DEFAULT_SHARED, metavar="PATH", help="the shared data folder"
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="study size")
    p.add_argument(
        "--train-tokens",
        type=int,
        metavar="N",
        help="tokens each model trains on (default: the preset's)",
    )
    p.add_argument(
        "--models",
        metavar="A,B,C",
        help="model sizes to train, smallest first (default: the preset's); the last one's "
        "report compares the others",
    )
    p.add_argument("--device", help="training and eval device (default: the preset's)")
    p.set_defaults(handler=_run_study)


def _argv_line(argv: list[str]) -> str:
    return "webtext " + " ".join(shlex.quote(a) for a in argv)


def _checkpoint_step(run_dir: Path) -> int:
    from model.checkpoint import checkpoint_path, load_checkpoint

    if not checkpoint_path(run_dir).exists():
        return 0
    return int(load_checkpoint(run_dir)["step"])


def _check_settings(root: Path, settings: dict[str, Any]) -> None:
    """One study per --out: settings recorded on the first run must match every rerun."""
    path = root / "_study.json"
    settings = json.loads(json.dumps(settings))  # as read back: tuples become lists
    if path.exists():
        previous = json.loads(path.read_text(encoding="utf-8"))
        if previous != settings:
            changed = sorted(
                k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k)
            )
            raise ValueError(
                f"{root} holds a study made with other settings ({', '.join(changed)} differ); "
                "choose another --out"
            )
        return
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def plan(root: Path, shared: Path, preset: Any) -> list[Step]:
    """Every step of the study in order (pure: nothing runs)."""
    from pipeline.study.docs_dir import write_docs
    from pipeline.study.testsets import eval_specs, overlap_specs, write_eval_sets

    docs, corpus, tokens = root / "docs", root / "corpus", root / "tokens"
    overlap, evalsets = root / "overlap", root / "testsets"
    runs = {m: root / "runs" / m for m in preset.models}
    evals = {m: root / "eval" / m for m in preset.models}
    main = preset.models[-1]  # the largest size: its report compares the others
    tests = [a for spec in eval_specs(shared, evalsets, preset.eval_docs) for a in ("--test", spec)]

    def complete(d: Path) -> Callable[[], bool]:
        return lambda: (d / "_SUCCESS").exists()

    steps = [
        Step(
            "docs",
            complete(docs),
            action=lambda: print(
                "[study] docs: "
                + json.dumps(
                    write_docs(
                        shared,
                        docs,
                        words_per_doc=preset.words_per_doc,
                        max_per_source=preset.max_per_source,
                    )["documents_per_source"]
                )
            ),
        ),
        Step(
            "dedup",
            complete(corpus),
            argv=[
                "dedup",
                str(docs),
                "--out",
                str(corpus),
                "--val-fraction",
                str(preset.val_fraction),
                "--test-fraction",
                str(preset.test_fraction),
            ],
        ),  # fmt: skip
        Step(
            "tokenize",
            complete(tokens),
            argv=[
                "tokenize",
                str(corpus),
                "--out",
                str(tokens),
                "--num-shards",
                "4",
                "--gpt2-files",
                str(shared / "gpt2"),
            ],
        ),  # fmt: skip
        Step(
            "overlap",
            complete(overlap),
            argv=[
                "overlap",
                str(corpus),
                "--out",
                str(overlap),
                "--verify-queries",
                "100000",
                *(a for spec in overlap_specs(shared) for a in ("--test", spec)),
            ],
        ),  # fmt: skip
        Step(
            "test sets",
            complete(evalsets),
            action=lambda: write_eval_sets(shared, evalsets, preset.eval_docs),
        ),
    ]
    for model in preset.models:
        run = runs[model]
        argv = [
            "train", str(tokens), "--out", str(run), "--model", model,
            "--steps", str(preset.steps), "--batch-tokens", str(preset.batch_tokens),
            "--micro-batch", str(preset.micro_batch), "--seq-len", str(preset.seq_len),
            "--lr", str(preset.lr(model)), "--warmup-steps", str(max(1, preset.steps // 20)),
            "--eval-interval", str(preset.eval_interval),
            "--eval-batches", str(preset.eval_batches),
            "--ckpt-interval", str(preset.eval_interval),
            "--log-interval", str(preset.eval_interval), "--device", preset.device,
        ]  # fmt: skip
        steps.append(
            Step(
                f"train {model}",
                lambda run=run: _checkpoint_step(run) >= preset.steps,
                argv=argv,
            )
        )
    for model in preset.models:
        steps.append(
            Step(
                f"eval {model}",
                lambda d=evals[model]: (d / "summary.json").exists(),
                argv=[
                    "eval",
                    str(runs[model]),
                    "--out",
                    str(evals[model]),
                    "--device",
                    preset.device,
                    "--batch-size",
                    str(preset.eval_batch_size),
                    "--no-progress",
                    *tests,
                ],
            )  # fmt: skip
        )
    steps.append(
        Step(
            "report",
            lambda: (root / "report" / "report.json").exists(),
            argv=[
                "report",
                str(runs[main]),
                "--out",
                str(root / "report"),
                "--corpus",
                str(corpus),
                "--overlap",
                str(overlap),
                "--eval",
                str(evals[main]),
                *(a for m in preset.models[:-1] for a in ("--compare-run", str(runs[m]))),
                "--num-samples",
                str(preset.num_samples),
                "--sample-tokens",
                str(max(8, preset.sample_tokens)),
            ],
        )  # fmt: skip
    )
    return steps


def run_study(out: str, shared: str, preset_name: str, **overrides: Any) -> int:
    from pipeline.cli import main as webtext
    from pipeline.study.presets import PRESETS
    from pipeline.study.sources import missing_files
    from pipeline.study.testsets import TEST_SETS

    shared_dir = Path(shared)
    if not shared_dir.is_dir():
        raise FileNotFoundError(
            f"shared data folder {shared} not found; give its path with --shared PATH"
        )
    missing = missing_files(shared_dir, tuple(t.path for t in TEST_SETS))
    if missing:
        raise FileNotFoundError(
            f"the shared data folder {shared} lacks {', '.join(missing)}; give the right "
            "folder with --shared PATH"
        )
    preset = PRESETS[preset_name].with_overrides(**overrides)
    root = Path(out)
    _check_settings(root, preset.to_dict())
    steps = plan(root, shared_dir, preset)
    started = time.monotonic()
    print(
        f"[study] preset {preset.name}: {', '.join(preset.models)}, {preset.train_tokens:,} "
        f"tokens each ({preset.steps} steps of {preset.batch_tokens:,}) on {preset.device} "
        f"-> {root}/",
        flush=True,
    )
    for i, step in enumerate(steps, 1):
        head = f"[study] step {i}/{len(steps)} {step.title}"
        if step.done():
            print(f"{head}: complete, skipped", flush=True)
            continue
        t0 = time.monotonic()
        if step.argv is not None:
            argv = list(step.argv)
            if step.title.startswith("train ") and _checkpoint_step(Path(argv[3])) > 0:
                argv.append("--resume")
            print(f"{head}: {_argv_line(argv)}", flush=True)
            rc = webtext(argv)
            if rc != 0:
                print(
                    f"[study] step {step.title} failed (exit status {rc}); fix the cause and "
                    "rerun the same `webtext study` command to continue from this step",
                    flush=True,
                )
                return rc
        else:
            print(f"{head} ...", flush=True)
            assert step.action is not None
            step.action()
        now = time.monotonic()
        print(
            f"[study] {step.title} done in {now - t0:.1f} s (study: {now - started:.1f} s)",
            flush=True,
        )
    from pipeline.study.summary import sizes_table

    runs = {m: root / "runs" / m for m in preset.models}
    table = sizes_table(runs, {m: root / "eval" / m for m in preset.models})
    (root / "sizes.md").write_text(table + "\n", encoding="utf-8")
    print(f"[study] the sizes side by side ({root / 'sizes.md'}):\n{table}", flush=True)
    print(f"[study] finished in {time.monotonic() - started:.1f} s; the report:", flush=True)
    print(str((root / "report" / "index.html").resolve()), flush=True)
    return 0


def _run_study(args: argparse.Namespace, extra: list[str]) -> int:
    if extra:
        raise ValueError(f"webtext study: unrecognized arguments: {' '.join(extra)}")
    return run_study(
        args.out,
        args.shared,
        args.preset,
        train_tokens=args.train_tokens,
        models=tuple(m.strip() for m in args.models.split(",")) if args.models else None,
        device=args.device,
    )
