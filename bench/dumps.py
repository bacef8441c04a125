"""Benchmark of the dump reader (pipeline/dumps.py): lines/s and peak memory per compression.

Writes a dump of N generated submission lines in each format, then reads it with
``iter_lines`` in a fresh process (so peak RSS is the reader's own) at two sizes 4x apart: a
streaming reader's peak must not grow with the file.

    python bench/dumps.py                    # 60K and 240K lines (~24 and ~96 MB of JSON)
    python bench/dumps.py --lines 20000      # quicker
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import json
import lzma
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parent.parent
COMPRESS = {
    "plain": lambda b: b,
    "gzip": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda b: zstandard.ZstdCompressor(level=3).compress(b),
}


def make_lines(n: int, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    words = [
        "the",
        "of",
        "a",
        "to",
        "in",
        "river",
        "bridge",
        "city",
        "council",
        "report",
        "water",
        "school",
        "market",
        "team",
    ]
    out = []
    for i in range(n):
        title = " ".join(rng.choice(words) for _ in range(rng.randint(5, 40)))
        record = {"id": f"p{i:x}", "url": f"https://s{rng.randint(0, 999)}.org/{rng.getrandbits(64):x}",
                  "score": rng.randint(0, 500), "created_utc": 1_200_000_000 + i, "title": title,
                  "selftext": " ".join(rng.choice(words) for _ in range(rng.randint(0, 60))),
                  "subreddit": rng.choice(["news", "science", "worldnews"])}  # fmt: skip
        out.append(json.dumps(record))
    return ("\n".join(out) + "\n").encode()


def read_one(path: str) -> None:
    """Child: read the file, print lines, seconds and peak RSS (MiB) as JSON."""
    sys.path.insert(0, str(ROOT))
    from pipeline.dumps import Line, iter_lines

    start = time.perf_counter()
    with open(path, "rb") as raw:
        n = sum(isinstance(item, Line) for item in iter_lines(raw, path))
    seconds = time.perf_counter() - start
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so it would count the parent's
    # memory at fork time; the high-water mark of this address space starts at exec.
    status = Path("/proc/self/status").read_text()
    rss = int(next(x for x in status.splitlines() if x.startswith("VmHWM:")).split()[1]) / 1024
    print(json.dumps({"lines": n, "seconds": seconds, "peak_rss_mib": rss}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=60_000, help="lines of the smaller dump")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        read_one(args.child)
        return 0
    print(f"{'format':6} {'lines':>8} {'MB json':>8} {'lines/s':>9} {'peak RSS MiB':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in (args.lines, 4 * args.lines):
            data = make_lines(size)
            for kind, compress in COMPRESS.items():
                path = Path(tmp) / f"dump-{size}.{kind}"
                path.write_bytes(compress(data))
                proc = subprocess.run(
                    [sys.executable, __file__, "--child", str(path)],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                r = json.loads(proc.stdout)
                assert r["lines"] == size, (kind, r)
                print(f"{kind:6} {size:8,} {len(data) / 1e6:8.1f} "
                      f"{r['lines'] / r['seconds']:9,.0f} {r['peak_rss_mib']:13.1f}")  # fmt: skip
                path.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
