"""Benchmark of `webtext links`: submissions/s and peak memory.

Makes a synthetic dump in the real Pushshift schema (the ~57 keys of the 2005+ submissions),
then times, each in a fresh process so peak RSS is its own:
  plain    a single Python loop over the same file: the same parse/rule functions, a dict for
           aggregation, one Parquet file (what the Beam job is measured against)
  beam-1   the Beam job on DirectRunner in-process
  beam-2   the Beam job on DirectRunner with 2 worker processes (input split in 4 files)

    python bench/links.py                 # 250K and 1M submissions
    python bench/links.py --sizes 100000  # quicker
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EXTRA_KEYS = [
    "archived",
    "author_flair_background_color",
    "author_flair_css_class",
    "author_flair_richtext",
    "author_flair_text",
    "author_flair_text_color",
    "author_flair_type",
    "brand_safe",
    "can_gild",
    "contest_mode",
    "distinguished",
    "edited",
    "gilded",
    "hidden",
    "hide_score",
    "is_crosspostable",
    "is_reddit_media_domain",
    "is_video",
    "link_flair_css_class",
    "link_flair_richtext",
    "link_flair_text",
    "link_flair_text_color",
    "link_flair_type",
    "locked",
    "media",
    "media_embed",
    "no_follow",
    "num_crossposts",
    "parent_whitelist_status",
    "rte_mode",
    "secure_media",
    "secure_media_embed",
    "send_replies",
    "spoiler",
    "stickied",
    "subreddit_id",
    "subreddit_name_prefixed",
    "subreddit_type",
    "suggested_sort",
    "thumbnail",
    "thumbnail_height",
    "thumbnail_width",
    "whitelist_status",
]


def synthetic_records(n: int, seed: int = 0, pool: int | None = None):
    """Realistic mix: ~15% self posts, ~10% image/video hosts, 2% Wikipedia, heavy-tailed
    scores (most posts below 3), URLs reposted (a pool of n/3 articles on 5,000 sites, or
    ``pool`` articles whatever n is: the input grows while the set of links stays the same)."""
    rng = random.Random(seed)
    sites = [f"www.site{i}.example.com" for i in range(5000)]
    pool = pool or max(1, n // 3)
    for i in range(n):
        kind = rng.random()
        article = rng.randrange(pool)
        if kind < 0.15:
            url, domain, is_self = (
                f"https://www.reddit.com/r/sub{i % 300}/comments/{i:x}/post/",
                "self.sub",
                True,
            )
        elif kind < 0.25:
            url, domain, is_self = f"https://i.imgur.com/{i:x}.jpg", "i.imgur.com", False
        elif kind < 0.27:
            url, domain, is_self = (
                f"https://en.wikipedia.org/wiki/Topic_{article}",
                "en.wikipedia.org",
                False,
            )
        else:
            site = sites[article % len(sites)]
            url = f"http://{site}/{2005 + article % 20}/story-{article}.html"
            if rng.random() < 0.1:
                url += "?utm_source=reddit&amp;utm_medium=social"
            domain, is_self = site[4:], False
        record = {key: None for key in EXTRA_KEYS}
        record.update(
            author=f"user{rng.randrange(100000)}",
            created_utc=1_119_552_000 + i * 7,
            domain=domain,
            id=format(1000 + i, "x"),
            is_self=is_self,
            num_comments=rng.randrange(100),
            over_18=rng.random() < 0.02,
            permalink=f"/r/sub{i % 300}/comments/{1000 + i:x}/post/",
            score=int(rng.paretovariate(0.9)) - 1,
            selftext="",
            subreddit=f"sub{i % 300}",
            title=f"Submission number {i} about article {article}",
            url=url,
        )
        yield record


def make_dump(path: Path, n: int, parts: int, seed: int = 0, pool: int | None = None) -> list[Path]:
    paths = [path.with_name(f"{path.stem}-{k}-of-{parts}.zst") for k in range(parts)]
    if all(p.exists() for p in paths):
        return paths
    path.parent.mkdir(parents=True, exist_ok=True)
    # One compressor per stream: a zstd context cannot interleave several frames.
    with contextlib.ExitStack() as stack:
        writers = [
            stack.enter_context(zstandard.ZstdCompressor(level=3).stream_writer(open(p, "wb")))  # noqa: SIM115
            for p in paths
        ]
        for i, record in enumerate(synthetic_records(n, seed, pool)):
            writers[i % parts].write(json.dumps(record).encode() + b"\n")
    return paths


def run_plain(inputs: list[str], out: str) -> None:
    from pipeline.dumps import Line, iter_lines
    from pipeline.io import schemas, shards
    from pipeline.io.stats import StageStats
    from pipeline.links import aggregate, select_link
    from pipeline.submissions import parse_line

    stats = StageStats()

    def posts():
        for path in inputs:
            with open(path, "rb") as raw:
                for item in iter_lines(raw, path):
                    if isinstance(item, Line):
                        post = parse_line(item.data, path, stats)
                        if post is not None:
                            yield post
                    else:
                        stats.records_in += 1
                        stats.drop(item.reason)

    rows = []
    for link in aggregate(posts()).values():
        row, s = select_link(link, 3, "max")
        stats.merge(s)
        if row is not None:
            rows.append(row)
    rows.sort(key=lambda r: r["url_key"])
    shards.write_shard(out, "part-00000-of-00001.parquet", rows, schemas.LINKS)
    stats.check_balance()


def run_one(variant: str, inputs: list[str], out: str) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    start = time.perf_counter()
    if variant == "plain":
        run_plain(inputs, out)
    else:
        from beam_jobs.links_job import LinksConfig, run_links

        beam_args = (
            ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
            if variant == "beam-2"
            else []
        )
        run_links(LinksConfig(inputs=inputs, out_dir=out, num_shards=4), beam_args)
    elapsed = time.perf_counter() - start
    peak_kb = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    print(json.dumps({"seconds": elapsed, "peak_rss_mb": peak_kb / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[250_000, 1_000_000])
    ap.add_argument("--variants", nargs="+", default=["plain", "beam-1", "beam-2"])
    ap.add_argument(
        "--pool",
        type=int,
        default=None,
        help="distinct articles whatever the size (default: size/3); a fixed pool shows memory "
        "does not grow with the input itself, only with the number of distinct links",
    )
    ap.add_argument("--workdir", default=str(ROOT / "bench_out" / "links"))
    ap.add_argument("--one", nargs=3, metavar=("VARIANT", "INPUTS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        variant, inputs, out = args.one
        run_one(variant, inputs.split(","), out)
        return
    work = Path(args.workdir)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print(
        f"{'size':>9} {'variant':>8} {'seconds':>8} {'subm/s':>10} {'subm/s/core':>12} {'peak MB':>8} {'vs plain/core':>13}"
    )
    for n in args.sizes:
        t0 = time.perf_counter()
        tag = f"{n}" + (f"-pool{args.pool}" if args.pool else "")
        inputs = make_dump(work / f"RS_synth_{tag}.zst", n, parts=4, pool=args.pool)
        gen_s = time.perf_counter() - t0
        size_mb = sum(p.stat().st_size for p in inputs) / 1e6
        articles = args.pool or max(1, n // 3)
        print(
            f"# {n:,} submissions over {articles:,} articles in 4 .zst files, "
            f"{size_mb:.0f} MB compressed (made in {gen_s:.0f} s)"
        )
        plain_rate = None
        for variant in args.variants:
            out = work / f"out-{variant}-{tag}"
            shutil.rmtree(out, ignore_errors=True)
            cmd = [sys.executable, __file__, "--one", variant, ",".join(map(str, inputs)), str(out)]
            result = json.loads(
                subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[
                    -1
                ]
            )
            cores = 2 if variant == "beam-2" else 1
            rate = n / result["seconds"]
            per_core = rate / cores
            if variant == "plain":
                plain_rate = per_core
            ratio = f"{plain_rate / per_core:.2f}x slower" if plain_rate else "-"
            print(
                f"{n:>9,} {variant:>8} {result['seconds']:>8.1f} {rate:>10,.0f} {per_core:>12,.0f} "
                f"{result['peak_rss_mb']:>8.0f} {ratio:>13}"
            )


if __name__ == "__main__":
    main()
