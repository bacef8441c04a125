"""`webtext sample`: text from a trained (or imported) GPT-2 run."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        help="generate text from RUN_DIR's checkpoint",
        description=(
            "Sample continuations of --prompt (empty: unconditional, starting from "
            "<|endoftext|>) with temperature, top-k, top-p and a KV cache; <|endoftext|> ends "
            "a sample."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (webtext train / convert)")
    p.add_argument("--prompt", default="", help="text to continue (default: unconditional)")
    p.add_argument("--num-samples", type=int, default=1, help="samples to generate")
    p.add_argument(
        "--max-new-tokens", type=int, default=200, help="most tokens generated per sample"
    )
    p.add_argument("--temperature", type=float, default=1.0, help="softmax temperature; 0 = greedy")
    p.add_argument(
        "--top-k", type=int, default=40, help="keep the k likeliest tokens; 0 = no top-k filter"
    )
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus mass; 1.0 = off")
    p.add_argument("--seed", type=int, help="repeatable samples (default: a random seed)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--tokenizer", help="tokenizer folder (default: RUN_DIR/tokenizer)")
    p.add_argument(
        "--prompt-ids",
        help="comma-separated token ids instead of --prompt; prints ids, needs no tokenizer",
    )
    p.set_defaults(handler=_run_sample)


def _run_sample(args: argparse.Namespace, extra: list[str]) -> int:
    from model.sample import SamplingConfig, generate, load_run_model, sample_texts

    cfg = SamplingConfig(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k or None,
        top_p=args.top_p,
        seed=args.seed,
    )
    if args.prompt_ids is not None:
        try:
            ids = [int(x) for x in args.prompt_ids.split(",") if x.strip()]
        except ValueError as exc:
            raise ValueError(f"--prompt-ids: not a comma-separated id list ({exc})") from exc
        model = load_run_model(args.run_dir, args.device)
        eot = model.config.vocab_size - 1
        for row in generate(model, ids, args.num_samples, cfg, eot_id=eot):
            print(",".join(map(str, row)))
        return 0
    texts = sample_texts(
        args.run_dir, args.prompt, args.num_samples, cfg, args.tokenizer, args.device
    )
    for i, text in enumerate(texts):
        print(f"===== sample {i + 1} =====")
        print(args.prompt + text)
    return 0
