"""Real text from ../shared/data as a tokens/ directory, for GPU training runs away from it.

    python bench/real_tokens.py --out .gpu_carry/tokens

Train split: the 17 Gutenberg books, the Dragnet and CleanEval gold article texts, the
Children's Book Test books and the WebText "valid" prefixes; val split: the WebText "test"
prefixes (real WebText, never trained on). Test sets that `webtext eval` scores (LAMBADA,
WikiText, PTB) are left out. GPT-2's own BPE (../shared/data/gpt2) encodes everything; the
output has the layout of `webtext tokenize` (Parquet shards, _tokenizer/, _SUCCESS), so
`webtext train` reads it as is. About 4.5M tokens, ~9 MB: small enough to carry to a lent GPU
(the device tool carries 64 MiB), where ../shared does not travel.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synthetic import write_token_shards  # noqa: E402

from model.tokenizer import load_tokenizer  # noqa: E402

DRAGNET_COMMENTS = "!@#$%^&*()  COMMENTS"


def books(shared: Path) -> Iterator[tuple[str, str]]:
    with tarfile.open(shared / "prose" / "nltk_gutenberg_17books.tar.xz", "r:xz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is not None and member.name.endswith(".txt"):
                yield f"gutenberg/{Path(member.name).name}", handle.read().decode("latin-1")


def gold_pages(shared: Path) -> Iterator[tuple[str, str]]:
    for name in ("dragnet", "cleaneval-dev"):
        for path in sorted((shared / "extraction" / name / "GoldStandard").glob("*.txt.gz")):
            text = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
            text = text.split(DRAGNET_COMMENTS)[0]
            for marker in ("<p>", "<h>", "<l>"):
                text = text.replace(marker, "")
            if text.strip():
                yield f"{name}/{path.name}", text.strip()


def cbt_books(shared: Path) -> Iterator[tuple[str, str]]:
    text = (shared / "testsets" / "cbt" / "cbt_test.txt").read_text(encoding="utf-8")
    for i, book in enumerate(text.split("_BOOK_TITLE_")[1:]):
        yield f"cbt/{i}", book.split("\n", 1)[-1]


def webtext(shared: Path, part: str) -> Iterator[tuple[str, str]]:
    path = shared / "webtext" / f"webtext.{part}.jsonl"
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            yield f"webtext-{part}/{i}", json.loads(line)["text"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, required=True, help="tokens directory to write")
    default_shared = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    p.add_argument("--shared", type=Path, default=default_shared, help="../shared/data")
    args = p.parse_args(argv)
    if (args.out / "_SUCCESS").exists():
        print(f"{args.out} is complete; nothing to do")
        return 0
    tokenizer = load_tokenizer(args.shared / "gpt2")
    t0 = time.perf_counter()
    docs: list[tuple[str, str, np.ndarray]] = []
    sources = [
        ("train", books(args.shared)),
        ("train", gold_pages(args.shared)),
        ("train", cbt_books(args.shared)),
        ("train", webtext(args.shared, "valid")),
        ("val", webtext(args.shared, "test")),
    ]
    for split, texts in sources:
        names, bodies = zip(*texts, strict=True)
        for name, ids in zip(names, tokenizer.encode_batch(list(bodies)), strict=True):
            docs.append((name, split, np.array([*ids, tokenizer.eot_id], dtype=np.uint16)))
    if args.out.exists():
        shutil.rmtree(args.out)  # an interrupted earlier write: start clean
    tmp = args.out.with_name(args.out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    write_token_shards(tmp, docs, num_shards=4)
    (tmp / "_tokenizer").mkdir()
    for name in ("encoder.json", "vocab.bpe"):
        shutil.copyfile(args.shared / "gpt2" / name, tmp / "_tokenizer" / name)
    tmp.rename(args.out)
    counts = {s: sum(len(ids) for _, split, ids in docs if split == s) for s in ("train", "val")}
    print(
        f"{args.out}: {len(docs):,} documents, train {counts['train']:,} tokens, "
        f"val {counts['val']:,} tokens ({time.perf_counter() - t0:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
