"""Stage 1 as a Beam job: dumps / live listings -> per-URL links with karma -> links/ shards.

read (one element per file or listing) -> parse + per-post rules -> key by URL key
-> CombinePerKey (LinkAggregate) -> karma rule -> WriteStageOutput (beam_jobs.stage_job)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import CompressionTypes, FileSystems

from beam_jobs.configs import LinksConfig
from beam_jobs.stage_io import BundleStats, expand_inputs, fingerprint_inputs
from beam_jobs.stage_job import StageJob, StageOutput
from pipeline import reddit_live
from pipeline.dumps import Line, iter_lines
from pipeline.io import object_store, schemas
from pipeline.links import LinkAggregate, select_link
from pipeline.submissions import Post, parse_line, post_from_record

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 10.0


class ReadPosts(BundleStats):
    """One input (a dump file or a reddit: listing) -> (url_key, Post) for each kept post."""

    def __init__(self, config: LinksConfig) -> None:
        self.keep_nsfw = config.keep_nsfw
        self.reddit_site = config.reddit_site
        self.praw_overrides = dict(config.praw_overrides)

    def process(self, source: str) -> Iterable[tuple[str, Post]]:
        if reddit_live.is_reddit_spec(source):
            yield from self._read_listing(source)
        else:
            yield from self._read_dump(source)

    def _read_dump(self, path: str) -> Iterable[tuple[str, Post]]:
        stats = self.stats
        started = last_report = time.monotonic()
        lines = 0
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
            for item in iter_lines(raw, path):
                if not isinstance(item, Line):
                    stats.records_in += 1
                    stats.drop(item.reason)
                    stats.error(item.message())
                    log.warning("%s", item.message())
                    continue
                lines += 1
                post = parse_line(
                    item.data, f"{path}: line {item.number}", stats, keep_nsfw=self.keep_nsfw
                )
                if post is not None:
                    yield post.url_key, post
                if lines % 65536 == 0 and time.monotonic() - last_report > PROGRESS_EVERY_S:
                    last_report = time.monotonic()
                    rate = lines / (last_report - started)
                    log.info("%s: %s lines read (%.0f lines/s)", path, f"{lines:,}", rate)
        log.info("%s: done, %s lines", path, f"{lines:,}")

    def _read_listing(self, text: str) -> Iterable[tuple[str, Post]]:
        spec = reddit_live.parse_spec(text)
        reddit = reddit_live.make_reddit(self.reddit_site, **self.praw_overrides)
        count = 0
        for record in reddit_live.iter_listing(reddit, spec):
            self.stats.records_in += 1
            count += 1
            post = post_from_record(record, self.stats, keep_nsfw=self.keep_nsfw)
            if post is not None:
                yield post.url_key, post
        log.info("%s: %d submissions", spec.describe(), count)


class CombineLink(beam.CombineFn):
    def create_accumulator(self) -> LinkAggregate:
        return LinkAggregate()

    def add_input(self, acc: LinkAggregate, post: Post) -> LinkAggregate:
        return acc.add(post)

    def merge_accumulators(self, accs: Iterable[LinkAggregate]) -> LinkAggregate:
        merged = LinkAggregate()
        for acc in accs:
            merged.merge(acc)
        return merged

    def extract_output(self, acc: LinkAggregate) -> LinkAggregate:
        return acc


class SelectLinks(BundleStats):
    def __init__(self, min_score: int, score_rule: str) -> None:
        self.min_score = min_score
        self.score_rule = score_rule

    def process(self, element: tuple[str, LinkAggregate]) -> Iterable[tuple[str, dict]]:
        key, link = element
        row, stats = select_link(link, self.min_score, self.score_rule)
        self.stats.merge(stats)
        if row is not None:
            yield key, row


class PostsToLinks(beam.PTransform):
    """PCollection of inputs (paths / reddit: specs) -> their posts -> one row per URL that
    passes the karma rule, + stats, for WriteStageOutput."""

    def __init__(self, config: LinksConfig) -> None:
        super().__init__()
        self.config = config

    def expand(self, sources: beam.PCollection) -> dict[str, beam.PCollection]:
        read = sources | "ReadPosts" >> beam.ParDo(ReadPosts(self.config)).with_outputs(
            BundleStats.STATS_TAG, main="posts"
        )
        links = read.posts | "CombinePerUrl" >> beam.CombinePerKey(CombineLink())
        selected = links | "KarmaRule" >> beam.ParDo(
            SelectLinks(self.config.min_score, self.config.score_rule)
        ).with_outputs(BundleStats.STATS_TAG, main="rows")
        stats = (read.stats, selected.stats) | "AllStats" >> beam.Flatten()
        return {"rows": selected.rows, "stats": stats}


def resolve_inputs(raw_inputs: list[str]) -> list[str]:
    """Expand file globs; validate reddit: specs up front so errors come before any work."""
    files = [i for i in raw_inputs if not reddit_live.is_reddit_spec(i)]
    specs = [i for i in raw_inputs if reddit_live.is_reddit_spec(i)]
    for pattern in files:  # a missing bucket is said as such, not as "matches no file"
        object_store.check_bucket_exists(pattern)
    for spec in specs:
        reddit_live.parse_spec(spec)
    return (expand_inputs(files) if files else []) + specs


class LinksJob(StageJob):
    """Dumps and live listings (no input stage) -> links/."""

    command = "links"

    def __init__(self, config: LinksConfig) -> None:
        super().__init__(config)
        self._params = config.params()

    def outputs(self) -> list[StageOutput]:
        cfg = self.config
        return [StageOutput(cfg.out_dir, "links", schemas.LINKS, cfg.num_shards)]

    def read_inputs(self) -> list[str]:
        return resolve_inputs(self.config.inputs)

    def fingerprint(self, inputs: list[str]) -> list[str]:
        files = [i for i in inputs if not reddit_live.is_reddit_spec(i)]
        specs = [i for i in inputs if reddit_live.is_reddit_spec(i)]
        if specs:
            # Live listings change from minute to minute: such a run is never resumed, and an
            # existing output directory is only replaced with --overwrite.
            self._params["live_run_started"] = time.time()
        return fingerprint_inputs(files) + specs

    def params(self) -> dict[str, Any]:
        return self._params

    def expand(self, p: beam.Pipeline, inputs: list[str]) -> dict[str, dict[str, Any]]:
        sources = p | "Inputs" >> beam.Create(inputs)
        return {"links": sources | "PostsToLinks" >> PostsToLinks(self.config)}


def run_links(
    config: LinksConfig, beam_args: list[str] | None = None, *, overwrite: bool = False
) -> str:
    """Run the links job. Returns "complete" when it had already finished, else "ran"."""
    return LinksJob(config).run(beam_args, overwrite=overwrite)
