"""Extraction quality and speed: our extract stage vs plain ``trafilatura.extract`` defaults.

Token-level precision / recall / F1 against the gold main text of ../shared/data/extraction/
(Dragnet: article part, before the comments marker; CleanEval-dev: markers removed), micro-
averaged over pages (summed token counts) and macro-averaged (mean per-page F1). Speed is
pages per CPU-second of one process (process_time), i.e. docs/s per core. Each set is also
scored on two fixed halves (A/B: parity of the first byte of sha1(file name)); the default
settings were chosen looking at half A, so half B is held out.

    python bench/extract.py [--limit 300] [--data ../shared/data] [--repeat 3]
        [--favor-precision | --balanced | --favor-recall] [--fallback-ratio 3] [--include-comments]
        [--per-page] [--parse-overhead] [--decimals 3]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.extract import ExtractConfig, extract_document  # noqa: E402
from pipeline.fetch.client import FetchOutcome  # noqa: E402
from pipeline.fetch.content import detect_charset  # noqa: E402
from pipeline.fetch.records import page_row  # noqa: E402

WORD = re.compile(r"\w+", re.UNICODE)
# The comments marker line varies slightly in the gold files ("!@#$%^&*()  COMMENTS", ...).
COMMENTS_MARKER = re.compile(r"^[ \t!@#$%^&*()]+COMMENTS[ \t]*$", re.MULTILINE)


def words(text: str) -> Counter[str]:
    return Counter(WORD.findall(text.lower()))


def load_dragnet(root: Path, limit: int) -> list[tuple[str, bytes, str]]:
    names = sorted(p.name.removesuffix(".html.gz") for p in (root / "input").glob("*.html.gz"))
    names = [n for n in names if (root / "GoldStandard" / f"{n}.txt.gz").exists()]
    step = max(1, len(names) // limit) if limit else 1
    out = []
    for name in names[::step][: limit or None]:
        html = gzip.decompress((root / "input" / f"{name}.html.gz").read_bytes())
        gold = gzip.decompress((root / "GoldStandard" / f"{name}.txt.gz").read_bytes())
        out.append(
            (name, html, COMMENTS_MARKER.split(gold.decode("utf-8", "replace"), maxsplit=1)[0])
        )
    return out


def load_cleaneval(root: Path) -> list[tuple[str, bytes, str]]:
    out = []
    for path in sorted((root / "input").glob("*.html.gz")):
        gold_path = root / "GoldStandard" / path.name.replace(".html.gz", ".txt.gz")
        if not gold_path.exists():
            continue
        raw = gzip.decompress(path.read_bytes())
        raw = re.sub(rb"^\s*<text[^>]*>", b"", raw, count=1)
        raw = re.sub(rb"</text>\s*$", b"", raw)
        gold = gzip.decompress(gold_path.read_bytes()).decode("utf-8", "replace")
        gold = re.sub(r"<[phl]>", " ", gold)
        out.append((path.name, raw, gold))
    return out


def half(name: str) -> str:
    """'A' or 'B': a fixed split of a gold set by file-name hash."""
    return "A" if hashlib.sha1(name.encode()).digest()[0] % 2 == 0 else "B"


def ours(html: bytes, config: ExtractConfig) -> str:
    link = {
        "link_id": "x",
        "url": "http://bench.example/page",
        "domain": "bench.example",
        "max_score": 3,
        "total_score": 3,
        "num_posts": 1,
        "subreddits": [],
        "first_seen_utc": 0,
    }
    outcome = FetchOutcome(
        url=link["url"],
        final_url=link["url"],
        status=200,
        content_type="text/html",
        charset=detect_charset(html),
        body=html,
    )
    row = page_row(link, outcome, source="live", fetched_utc=0)
    doc, _ = extract_document(row, config)
    return doc["text"] if doc else ""


def plain(html: bytes) -> str:
    import trafilatura

    return trafilatura.extract(html) or ""


def score(pages: list[tuple[str, bytes, str]], outputs: list[str]) -> dict:
    common = predicted = gold_total = 0
    f1s = []
    for (_, _, gold), text in zip(pages, outputs, strict=True):
        p, g = words(text), words(gold)
        c = sum((p & g).values())
        common, predicted, gold_total = (
            common + c,
            predicted + sum(p.values()),
            gold_total + sum(g.values()),
        )
        prec = c / sum(p.values()) if p else 0.0
        rec = c / sum(g.values()) if g else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    precision, recall = common / max(predicted, 1), common / max(gold_total, 1)
    return {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "macro_f1": sum(f1s) / max(len(f1s), 1),
    }


def evaluate(
    pages: list[tuple[str, bytes, str]], system: Callable[[bytes], str], repeat: int = 1
) -> dict:
    """Scores on the whole set and on halves A and B, and docs per CPU-second (median of
    ``repeat`` timed passes: on a shared machine one pass over a small set is noisy)."""
    rates = []
    for _ in range(repeat):
        started = time.process_time()
        outputs = [system(html) for _, html, _ in pages]
        rates.append(len(pages) / (time.process_time() - started))
    result = {
        "all": score(pages, outputs),
        "docs_per_cpu_s": sorted(rates)[len(rates) // 2],
        "outputs": outputs,
    }
    for part in ("A", "B"):
        chosen = [i for i, (name, _, _) in enumerate(pages) if half(name) == part]
        result[part] = score([pages[i] for i in chosen], [outputs[i] for i in chosen])
    return result


def print_per_page(
    set_name: str, pages: list[tuple[str, bytes, str]], plain_out: list[str], ours_out: list[str]
) -> None:
    """Pages where the two systems' F1 differ, largest loss of ours first, with gold size
    (micro F1 weighs a page by its gold words)."""
    rows = []
    for page, text_plain, text_ours in zip(pages, plain_out, ours_out, strict=True):
        f_plain = score([page], [text_plain])["f1"]
        f_ours = score([page], [text_ours])["f1"]
        if abs(f_ours - f_plain) > 0.0005:
            rows.append((f_ours - f_plain, page[0], sum(words(page[2]).values()), f_plain, f_ours))
    for diff, name, gold_words, f_plain, f_ours in sorted(rows):
        print(
            f"  {set_name} {name:<14} half {half(name)} gold words {gold_words:>6} "
            f"F1 plain {f_plain:.3f} ours {f_ours:.3f} ({diff:+.3f})"
        )


def print_parse_overhead(set_name: str, pages: list[tuple[str, bytes, str]], repeat: int) -> None:
    """CPU ms per page of the stage's parse step (JSON check, trafilatura's loader, the markup
    test and lxml for bodies it refuses) and of trafilatura's load_html alone, alternated
    ``repeat`` times (median): the cost of the fragment path on pages that do not need it."""
    import logging

    from trafilatura.utils import load_html

    from pipeline.extract import load_page_tree

    logging.getLogger("trafilatura.utils").setLevel(logging.CRITICAL)
    texts = [html.decode(detect_charset(html), "replace") for _, html, _ in pages]
    timings: dict[str, list[float]] = {"stage": [], "load_html": []}
    for _ in range(max(repeat, 1)):
        for name, parse in (("stage", load_page_tree), ("load_html", load_html)):
            started = time.process_time()
            for text in texts:
                parse(text)
            timings[name].append(1000 * (time.process_time() - started) / len(texts))
    stage, alone = (sorted(t)[len(t) // 2] for t in timings.values())
    print(
        f"  {set_name} parse step: stage {stage:.2f} ms/page, trafilatura load_html {alone:.2f}"
        f" ms/page ({100 * (stage - alone) / alone:+.1f}%)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", default=str(Path(__file__).resolve().parent.parent.parent / "shared" / "data")
    )
    parser.add_argument(
        "--limit", type=int, default=300, help="Dragnet pages (evenly spaced; 0 = all 1,381)"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--favor-precision", action="store_true", help="trafilatura precision mode")
    mode.add_argument("--balanced", action="store_true", help="balanced mode (the default)")
    mode.add_argument("--favor-recall", action="store_true", help="trafilatura recall mode")
    parser.add_argument("--fallback-ratio", type=float, default=ExtractConfig.fallback_ratio)
    parser.add_argument("--fallback-min-chars", type=int, default=ExtractConfig.fallback_min_chars)
    parser.add_argument("--include-comments", action="store_true")
    parser.add_argument(
        "--per-page",
        action="store_true",
        help="also print, per page, F1 of plain trafilatura and ours where they differ",
    )
    parser.add_argument("--repeat", type=int, default=1, help="timed passes per system (median)")
    parser.add_argument(
        "--parse-overhead",
        action="store_true",
        help="also time the stage's body parsing against trafilatura's load_html alone",
    )
    parser.add_argument(
        "--decimals", type=int, default=3, help="decimals of the F1 columns (4 tells 0.001 apart)"
    )
    args = parser.parse_args()
    config = ExtractConfig(
        min_tokens=0,
        favor_precision=args.favor_precision,
        favor_recall=args.favor_recall,
        include_comments=args.include_comments,
        fallback_ratio=args.fallback_ratio,
        fallback_min_chars=args.fallback_min_chars,
    )
    print(f"webtext extract settings: {config.to_dict()}")
    root = Path(args.data) / "extraction"
    sets = {
        f"dragnet ({args.limit or 'all'})": load_dragnet(root / "dragnet", args.limit),
        "cleaneval-dev": load_cleaneval(root / "cleaneval-dev"),
    }
    system_ours = functools.partial(ours, config=config)
    system_ours(sets["cleaneval-dev"][0][1])  # warm imports before timing
    plain(sets["cleaneval-dev"][0][1])
    print(
        f"{'set':<24} {'system':<18} {'P':>6} {'R':>6} {'F1':>6} {'macroF1':>8} "
        f"{'F1 A':>6} {'F1 B':>6} {'docs/s/core':>12}"
    )
    d = args.decimals
    for set_name, pages in sets.items():
        n_a = sum(half(name) == "A" for name, _, _ in pages)
        label = f"{set_name} n={len(pages)} ({n_a}/{len(pages) - n_a})"
        outputs = {}
        for sys_name, system in (("plain trafilatura", plain), ("webtext extract", system_ours)):
            r = evaluate(pages, system, args.repeat)
            outputs[sys_name] = r["outputs"]
            a = r["all"]
            print(
                f"{label:<24} {sys_name:<18} {a['precision']:>6.3f} {a['recall']:>6.3f} "
                f"{a['f1']:>6.{d}f} {a['macro_f1']:>8.{d}f} {r['A']['f1']:>6.{d}f} "
                f"{r['B']['f1']:>6.{d}f} {r['docs_per_cpu_s']:>12.1f}"
            )
        if args.per_page:
            print_per_page(
                set_name, pages, outputs["plain trafilatura"], outputs["webtext extract"]
            )
        if args.parse_overhead:
            print_parse_overhead(set_name, pages, args.repeat)


if __name__ == "__main__":
    main()
