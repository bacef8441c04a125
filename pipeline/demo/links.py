"""The demo's links step: write the generated dump to root/input, run the links stage on it
into root/links, and print every link kept."""

from __future__ import annotations

from pathlib import Path

from beam_jobs.links_job import LinksConfig, LinksJob, run_links
from pipeline.demo.data import write_demo_dump
from pipeline.io import schemas, shards


def links_step(root: Path, beam_args: list[str]) -> None:
    """The generated dump -> root/input/RS_demo.zst -> root/links."""
    dump = write_demo_dump(root / "input" / "RS_demo.zst")
    print(f"[demo] input: {dump} (a Pushshift-format dump generated for the demo)")
    links_dir = str(root / "links")
    config = LinksConfig(inputs=[str(dump)], out_dir=links_dir, num_shards=2)
    run_links(config, beam_args)
    print(LinksJob(config).summary(prefix="[demo] "))
    rows = shards.read_rows(links_dir, schemas.LINKS)
    print(f"[demo] kept {len(rows)} links:")
    for row in sorted(rows, key=lambda r: (-r["max_score"], r["url"])):
        print(f"  {row['max_score']:>4} karma  {row['num_posts']} post(s)  {row['url']}")
