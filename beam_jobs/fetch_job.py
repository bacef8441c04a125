"""Stage 2 as a Beam job: links/ -> pages/ (live HTTP, or responses read from WARC files).

Live:  links ─┐
              ├─ CoGroupByKey(link_id) ─ done ──────────────────────────┐
   ledger ────┘                        └ todo ─ GroupByKey(host group) ─ FetchHostGroup ─┤
                                   (one crawl frontier per worker; writes ledger files)  │
                                                                             Account ─ WriteStageOutput
Columnar (--source cc with a Parquet --cc-index): ReadLinks becomes ReadLinksWithCaptures,
which joins each links/ shard once with the index (DuckDB) and hands every link its chosen
capture; the rest is the live graph, and the cc source reads each record by Range without
an index request.

WARC:  links ─ key by URL key ─┐
       WARC files ─ responses ─┴─ CoGroupByKey ─ WarcStep (x redirect rounds) ─ Account ─ Write

Fetching: every link of a worker's host groups goes into one crawl frontier
(pipeline.fetch.frontier): all hosts progress at once, each at its own politeness, under one
global concurrency bound; no host waits for another host's slow or polite queue.

Resume: every ``batch_size`` ended links, their rows (pages and errors) go to pages/_fetched/
as one atomically renamed Parquet file before they are emitted. A rerun reads that ledger and
fetches only links missing from it, so a job killed after hours loses at most the links in
flight and those waiting for the next ledger file.

Retry (``retry_errors``, `--retry-errors`): a rerun also fetches again the links whose chosen
ledger row (choose_row) has an error in the given classes, complete output or not. The new
rows go to new ledger files (old ones are never rewritten); pages/ shards and _stats.json are
then rebuilt from the whole ledger, choose_row picking a page over an error, so each link
appears once. _stats.json's "retry" group counts the links fetched again after an error and
how many of them now have a page, both derived from the ledger alone. While a retry runs,
pages/_retry.json records its classes and start time; a rerun without the flag after the retry
was killed finishes pages/ from the ledger as usual and warns how many links the retry had not
reached (ledger rows all older than its start) and how to finish it; the record goes when a
retry finishes, or when no such link is left.

The output directory is locked for the whole run (pipeline.io.locks): two fetches on one output
would double the requests to every host.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from beam_jobs.configs import LEDGER_DIR, FetchJobConfig  # noqa: F401 (LEDGER_DIR re-exported)
from beam_jobs.shard_read import ReadShardRows, read_shard_file
from beam_jobs.stage_io import BundleStats, expand_inputs, fingerprint_inputs
from beam_jobs.stage_job import StageJob, StageOutput
from pipeline.archive.capture import capture_age_bucket, target_time
from pipeline.fetch.background import BackgroundFetcher
from pipeline.fetch.client import FetchConfig, FetchOutcome
from pipeline.fetch.records import choose_row, page_row, was_retried
from pipeline.fetch.retry import (
    LEDGER_COLUMNS,
    interrupted_retry_message,
    links_left_to_retry,
    retry_summary,
)
from pipeline.fetch.warc import (
    WarcResponse,
    apply_warc_response,
    choose_response,
    iter_warc_responses,
    url_key,
    write_warc_file,
)
from pipeline.io import schemas, shards

log = logging.getLogger(__name__)
RETRY_FILE = "_retry.json"  # a --retry-errors run under way: {"classes": [...], "started_utc"}


def host_group(url: str, groups: int) -> int:
    host = url.split("/")[2] if "://" in url else url
    return shards.shard_index(host.lower(), groups)


class SplitDone(beam.DoFn):
    """(link_id, {"link": [...], "done": [ledger rows]}) -> (chosen ledger row, retried), or
    on the "pending" output (link, ledger rows) to fetch: a link missing from the ledger, or
    one whose chosen row has an error in ``retry_errors`` (its error class also goes to the
    "retrying" output, for the summary line)."""

    PENDING = "pending"
    RETRYING = "retrying"

    def __init__(self, retry_errors: frozenset[str] = frozenset()) -> None:
        self.retry_errors = retry_errors

    def process(self, element: tuple[str, dict[str, list]]) -> Iterable[Any]:
        _, groups = element
        # A ledger row without its link cannot happen: the job spec pins the input.
        for link in groups["link"][:1]:
            done = list(groups["done"])
            if not done:
                yield beam.pvalue.TaggedOutput(self.PENDING, (link, []))
                continue
            best = choose_row(done)
            if best["error"] is not None and best["error"] in self.retry_errors:
                yield beam.pvalue.TaggedOutput(self.PENDING, (link, done))
                yield beam.pvalue.TaggedOutput(self.RETRYING, best["error"])
            else:
                yield best, was_retried(done)


@dataclass
class _Fetched:
    """One link's fetch as it waits for its ledger file: its earlier ledger rows, its new row
    and (for --write-warc only) the outcome to archive."""

    earlier: list[dict[str, Any]]
    row: dict[str, Any]
    outcome: FetchOutcome | None


def _finish_fetch(
    token: tuple[dict[str, Any], list[dict[str, Any]]], outcome: FetchOutcome, keep_outcome: bool
) -> _Fetched:
    """Runs in a worker thread of the frontier: the page row (the body zstd-compressed)."""
    link, earlier = token
    row = page_row(link, outcome, source=outcome.source, fetched_utc=int(time.time()))
    # --write-warc keeps what was fetched live today; an archived page is already archived
    kept = outcome if keep_outcome and row["error"] is None and outcome.source == "live" else None
    return _Fetched(earlier, row, kept)


class FetchHostGroup(beam.DoFn):
    """Host groups -> fetched rows, through one crawl frontier per DoFn instance
    (pipeline.fetch.frontier on its own event-loop thread, pipeline.fetch.background).

    Every link of every group in the bundle is handed to the frontier as it is read (at most
    MAX_PENDING unfinished at a time, which bounds memory), so all hosts progress at once, each
    at its own politeness, under one global concurrency bound. As links end, in whatever order,
    their rows gather here; every ``batch_size`` of them become one ledger file (and WARC
    file), written atomically before those rows are emitted. A kill loses at most the rows not
    yet in a ledger file. A host's links all fall in one group, so one worker at a time talks
    to it and the per-host limits hold across the whole job."""

    MAX_PENDING = 20_000

    def __init__(self, config: FetchJobConfig) -> None:
        self.config = config
        self._bg: BackgroundFetcher | None = None
        self._buffer: list[_Fetched] = []

    def setup(self) -> None:
        self._bg = None
        self._buffer = []

    def _background(self) -> BackgroundFetcher:
        if self._bg is None:
            keep = self.config.write_warc_dir is not None
            self._bg = BackgroundFetcher(
                self.config.fetch,
                functools.partial(_finish_fetch, keep_outcome=keep),
                sources=self.config.archive.sources(),
                archive=self.config.archive,
                out_dir=self.config.out_dir,
            ).start()
            self._started = time.monotonic()
            self._done = 0
        return self._bg

    def start_bundle(self) -> None:
        self._buffer = []

    def process(
        self, element: tuple[int, Iterable[tuple[dict[str, Any], list[dict[str, Any]]]]]
    ) -> Iterable[tuple[dict[str, Any], bool]]:
        """Elements: (link, its earlier ledger rows: empty unless it is being retried).
        Emits (the row standing for the link over all its ledger rows, retried)."""
        _, items = element
        bg = self._background()
        for link, earlier in items:
            while bg.outstanding >= self.MAX_PENDING:
                yield from self._take(block=True)
            captures = {"cc": link[CC_CAPTURE]} if CC_CAPTURE in link else None
            bg.submit((link, list(earlier)), link["url"], link["first_seen_utc"], captures)
            yield from self._take(block=False)

    def finish_bundle(self) -> Iterable[Any]:
        if self._bg is None:
            return
        while self._bg.outstanding:
            for value in self._take(block=True):
                yield GlobalWindows.windowed_value(value)
        for value in self._flush():
            yield GlobalWindows.windowed_value(value)

    def teardown(self) -> None:
        if self._bg is not None:
            self._bg.close()
            self._bg = None

    def _take(self, block: bool) -> Iterable[tuple[dict[str, Any], bool]]:
        """Gather ended links (one, waiting if ``block``; else all that ended); emit a ledger
        file's worth whenever the buffer fills."""
        assert self._bg is not None
        while True:
            got = self._bg.take(block)
            if got is None:
                return
            self._buffer.append(got[1])
            if len(self._buffer) >= self.config.batch_size:
                yield from self._flush()
            if block:
                return

    def _flush(self) -> Iterable[tuple[dict[str, Any], bool]]:
        batch, self._buffer = self._buffer, []
        if not batch:
            return
        rows = [f.row for f in batch]
        if self.config.write_warc_dir:
            write_warc_file(
                self.config.write_warc_dir, [f.outcome for f in batch if f.outcome is not None]
            )
        shards.write_shard(
            self.config.ledger_dir, f"batch-{uuid.uuid4().hex}.parquet", rows, schemas.PAGES
        )
        self._done += len(rows)
        elapsed = time.monotonic() - self._started
        ok = sum(1 for r in rows if r["error"] is None)
        log.info(
            "ledger file of %d URLs (%d pages, %d errors); %d fetched in %.1fs (%.1f/s), "
            "%d queued or in flight",
            len(rows),
            ok,
            len(rows) - ok,
            self._done,
            elapsed,
            self._done / max(elapsed, 1e-9),
            self._bg.outstanding if self._bg is not None else 0,
        )
        for fetched in batch:
            history = [*fetched.earlier, fetched.row]
            yield choose_row(history), was_retried(history)


CC_CAPTURE = "cc_capture"  # the link's capture from the columnar join (ReadLinksWithCaptures)


class ReadLinksWithCaptures(beam.DoFn):
    """A links/ shard -> its rows, each with ``cc_capture``: the capture the columnar index
    (``--cc-index`` Parquet) holds for it (pipeline.archive.columnar.CAPTURE_FIELDS) or None.

    One DuckDB join per shard: the SURT key of every link computed once (url and post time
    read as two columns), the index scanned once, the chosen captures streamed back in the
    shard's row order and merged with its rows as they are read again, so neither the rows
    nor the captures are held whole (only the join's keys: about 100 bytes a link)."""

    def __init__(self, config: FetchJobConfig) -> None:
        self.archive = config.archive

    def process(self, path: str) -> Iterable[dict[str, Any]]:
        from pipeline.archive.columnar import attach, join_positions, position_table

        cfg = self.archive
        near = cfg.capture_near
        started = time.monotonic()
        targets = (
            (url, target_time(near, post))
            for batch in shards.iter_shard_batches(
                path, schemas.LINKS, columns=["url", "first_seen_utc"]
            )
            for url, post in zip(
                batch.column("url").to_pylist(),
                batch.column("first_seen_utc").to_pylist(),
                strict=True,
            )
        )
        positions = position_table(targets)
        joined = join_positions(
            positions,
            cfg.cc_index,
            near=near,
            window_s=cfg.window_seconds(),
            crawls=cfg.crawls(),
        )
        found = 0
        for row in attach(read_shard_file(path, schemas.LINKS), joined, CC_CAPTURE):
            found += row[CC_CAPTURE] is not None
            yield row
        log.info(
            "%s: %d links joined with the columnar index in %.1fs, %d with a capture",
            path,
            positions.num_rows,
            time.monotonic() - started,
            found,
        )


class ReadWarc(beam.DoFn):
    """A WARC file -> (URL key, WarcResponse) for every HTTP response record."""

    def __init__(self, max_body_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes

    def process(self, path: str) -> Iterable[tuple[str, WarcResponse]]:
        with FileSystems.open(path, compression_type="uncompressed") as f:
            count = 0
            for response in iter_warc_responses(f, self.max_body_bytes):
                key = url_key(response.target_uri)
                if key is not None:
                    count += 1
                    yield key, response
        log.info("%s: %d response records", path, count)


@dataclass
class _WarcState:
    link: dict[str, Any]
    outcome: FetchOutcome
    date_utc: int = 0


class WarcStep(beam.DoFn):
    """One lookup round: each pending link at URL key K meets the archived responses for K
    and ends as a row, or moves on to its redirect target (re-keyed for the next round)."""

    NEXT = "next"

    def __init__(self, fetch: FetchConfig) -> None:
        self.fetch = fetch

    def process(self, element: tuple[str, dict[str, list]]) -> Iterable[Any]:
        _, groups = element
        responses: list[WarcResponse] = list(groups["responses"])
        for state in groups["states"]:
            out = state.outcome
            response = choose_response(out.final_url, responses)
            if response is not None:
                state.date_utc = response.date_utc
                out.capture_time = response.date_utc or None
            nxt = apply_warc_response(out, response, self.fetch)
            if nxt is None:
                yield page_row(state.link, out, source="warc", fetched_utc=state.date_utc)
            else:
                key = url_key(nxt)
                if key is None:  # check_url accepted it, so this cannot happen; stay safe
                    out.error = "redirect_invalid_url"
                    yield page_row(state.link, out, source="warc", fetched_utc=state.date_utc)
                else:
                    yield beam.pvalue.TaggedOutput(self.NEXT, (key, state))


def _unresolved(state: _WarcState) -> dict[str, Any]:
    state.outcome.error = "too_many_redirects"
    return page_row(state.link, state.outcome, source="warc", fetched_utc=state.date_utc)


class Account(BundleStats):
    """Every link's (row, retried): a usable page goes to the shards, an error is a counted
    drop (its row stays in the ledger for inspection). Links fetched again after an error,
    and those of them that now have a page, are counted on the "totals" output as
    ("retry", "retried") and ("retry", "recovered") (_stats.json's "retry" group)."""

    TOTALS_TAG = "totals"

    def start_bundle(self) -> None:
        super().start_bundle()
        self.retried = 0
        self.recovered = 0
        self.source_counts: Counter[tuple[str, str]] = Counter()

    def finish_bundle(self) -> Iterable[Any]:
        yield from super().finish_bundle()
        for name, value in (("retried", self.retried), ("recovered", self.recovered)):
            yield beam.pvalue.TaggedOutput(
                self.TOTALS_TAG, GlobalWindows.windowed_value((("retry", name), value))
            )
        for key, value in sorted(self.source_counts.items()):
            yield beam.pvalue.TaggedOutput(
                self.TOTALS_TAG, GlobalWindows.windowed_value((key, value))
            )

    def process(self, element: tuple[dict[str, Any], bool]) -> Iterable[tuple[str, dict[str, Any]]]:
        row, retried = element
        self._count_sources(row)
        if retried:
            self.retried += 1
            self.recovered += row["error"] is None
        self.stats.records_in += 1
        if row["error"] is None:
            self.stats.records_out += 1
            yield row["link_id"], row
        else:
            self.stats.drop(row["error"])
            if len(self.stats.error_samples) < 20:
                self.stats.error(f"{row['url']}: {row['error']} (final URL {row['final_url']})")

    def _count_sources(self, row: dict[str, Any]) -> None:
        """_stats.json's source groups: "pages_by_source" (pages per source), "attempts"
        (every source tried, "cc:no_capture", "live:page"), "capture_age" (archived pages by
        capture time minus post time, pipeline.archive.capture.CAPTURE_AGE_BUCKETS)."""
        counts = self.source_counts
        if row["error"] is None:
            counts["pages_by_source", row["source"]] += 1
            if row.get("capture_time") is not None and row["source"] in ("cc", "wayback"):
                counts[
                    "capture_age", capture_age_bucket(row["capture_time"], row["first_seen_utc"])
                ] += 1
        for attempt in row.get("attempts") or ():
            counts["attempts", attempt] += 1


def _log_retry_summary(by_class: list[tuple[str, int]], classes: frozenset[str]) -> None:
    log.info("%s", retry_summary(by_class, classes))


def _live_rows(
    p: beam.Pipeline, config: FetchJobConfig, links: beam.PCollection, ledger: list[str]
):
    done = (
        p
        | "LedgerFiles" >> beam.Create(ledger)
        | "ReadLedger" >> beam.ParDo(ReadShardRows(schemas.PAGES))
        | "KeyDone" >> beam.Map(lambda r: (r["link_id"], r))
    )
    keyed = links | "KeyLinks" >> beam.Map(lambda r: (r["link_id"], r))
    split = (
        {"link": keyed, "done": done}
        | "JoinLedger" >> beam.CoGroupByKey()
        | "SplitDone"
        >> beam.ParDo(SplitDone(config.retry_errors)).with_outputs(
            SplitDone.PENDING, SplitDone.RETRYING, main="done"
        )
    )
    if config.retry_errors:
        _ = (
            split.retrying
            | "CountRetries" >> beam.combiners.Count.PerElement()
            | "RetryList" >> beam.combiners.ToList()
            | "LogRetries" >> beam.Map(_log_retry_summary, classes=config.retry_errors)
        )
    groups = config.host_groups
    fetched = (
        split.pending
        | "KeyByHost" >> beam.Map(lambda item, g=groups: (host_group(item[0]["url"], g), item))
        | "GroupByHost" >> beam.GroupByKey()
        | "Fetch" >> beam.ParDo(FetchHostGroup(config))
    )
    return (split.done, fetched) | "AllRows" >> beam.Flatten()


def _warc_rows(p: beam.Pipeline, config: FetchJobConfig, links: beam.PCollection, files: list[str]):
    responses = (
        p
        | "WarcFiles" >> beam.Create(files)
        | "ReadWarc" >> beam.ParDo(ReadWarc(config.fetch.max_body_bytes))
    )
    states = links | "Start" >> beam.Map(
        lambda r: (
            url_key(r["url"]) or r["url_key"],
            _WarcState(r, FetchOutcome(r["url"], r["url"])),
        )
    )
    finals = []
    for hop in range(config.fetch.max_redirects + 1):
        step = (
            {"states": states, "responses": responses}
            | f"Join{hop}" >> beam.CoGroupByKey()
            | f"Step{hop}"
            >> beam.ParDo(WarcStep(config.fetch)).with_outputs(WarcStep.NEXT, main="rows")
        )
        finals.append(step.rows)
        states = step.next
    finals.append(states | "Unresolved" >> beam.Map(lambda kv: _unresolved(kv[1])))
    return finals | "AllRows" >> beam.Flatten() | "NotRetried" >> beam.Map(lambda r: (r, False))


def _start_retry(config: FetchJobConfig) -> None:
    """Record that a --retry-errors run is under way (removed when it finishes), so a rerun
    without the flag after a kill can say that the retry was left unfinished."""
    record = {"classes": sorted(config.retry_errors), "started_utc": int(time.time())}
    shards.write_json_atomic(shards.join(config.out_dir, RETRY_FILE), record)


def _interrupted_retry(out_dir: str) -> dict[str, Any] | None:
    path = shards.join(out_dir, RETRY_FILE)
    if not shards.exists(path):
        return None
    record = json.loads(shards.read_text(path))
    return record if isinstance(record, dict) else None


def _end_retry(out_dir: str) -> None:
    shards.remove(shards.join(out_dir, RETRY_FILE))


def _report_interrupted_retry(config: FetchJobConfig) -> None:
    """On a run without --retry-errors: if a --retry-errors run was killed before its end,
    count the links it did not reach (their chosen ledger row is still an error of its
    classes, recorded before it started) and say how to finish it; with none left, the
    ledger already holds everything that retry would have fetched, and the record goes."""
    record = _interrupted_retry(config.out_dir)
    if record is None:
        return
    classes = frozenset(record.get("classes") or ())
    started = int(record.get("started_utc") or 0)
    ledger = shards.list_shards(config.ledger_dir)
    rows = [
        row
        for path in ledger
        for row in pq.read_table(path, columns=list(LEDGER_COLUMNS)).to_pylist()
    ]
    left = links_left_to_retry(rows, classes, started)
    if left:
        log.warning("%s", interrupted_retry_message(left, classes))
    else:
        log.info("an interrupted --retry-errors run left no link to retry: it is finished")
        _end_retry(config.out_dir)


class FetchJob(StageJob):
    """links/ (+ WARC files) -> pages/, resumable from its ledger (pages/_fetched/)."""

    command = "fetch"
    input_name = "links"
    input_schema = schemas.LINKS

    def __init__(self, config: FetchJobConfig) -> None:
        super().__init__(config)
        self.ledger: list[str] = []
        self.warc_files: list[str] = []

    def input_dir(self) -> str:
        return self.config.links_dir

    def outputs(self) -> list[StageOutput]:
        cfg = self.config
        return [StageOutput(cfg.out_dir, "pages", schemas.PAGES, cfg.num_shards)]

    def check(self) -> None:
        warc = self.config.warc_inputs
        self.warc_files = expand_inputs(list(warc)) if warc else []
        if self._columnar():
            from pipeline.archive.columnar import check_index

            check_index(self.config.archive.cc_index)

    def _columnar(self) -> bool:
        archive = self.config.archive
        return "cc" in archive.sources() and archive.columnar_index()

    def fingerprint(self, inputs: list[str]) -> list[str]:
        return fingerprint_inputs([self.config.links_dir, *self.warc_files])

    def claim(self, fingerprint: list[str], overwrite: bool) -> str:
        """A finished pages/ is done unless errors are to be retried; then, as after a kill,
        the run resumes from its ledger (temporaries are removed before the pipeline)."""
        cfg = self.config
        if not overwrite:
            _refuse_old_pages(cfg.out_dir)
        spec = shards.JobSpec("pages", self.params(), fingerprint)
        state = shards.prepare_output(cfg.out_dir, spec, overwrite=overwrite)
        if state == "complete" and not cfg.retry_errors:
            log.info("%s is already complete for these inputs; nothing to do", cfg.out_dir)
            return "complete"
        return "fresh" if state == "fresh" else "resume"

    def on_complete(self) -> None:
        _report_interrupted_retry(self.config)

    def before_pipeline(self, state: str) -> None:
        if state == "resume":
            self.ledger = _resume_from_ledger(self.config)

    def expand(self, p: beam.Pipeline, inputs: list[str]) -> dict[str, dict[str, Any]]:
        cfg = self.config
        read = ReadLinksWithCaptures(cfg) if self._columnar() else ReadShardRows(schemas.LINKS)
        links = p | "LinkShards" >> beam.Create(inputs) | "ReadLinks" >> beam.ParDo(read)
        if self.warc_files:
            rows = _warc_rows(p, cfg, links, self.warc_files)
        else:
            rows = _live_rows(p, cfg, links, self.ledger)
        accounted = rows | "Account" >> beam.ParDo(Account()).with_outputs(
            BundleStats.STATS_TAG, Account.TOTALS_TAG, main="rows"
        )
        return {
            "pages": {
                "rows": accounted.rows,
                "stats": accounted.stats,
                "totals": accounted[Account.TOTALS_TAG],
            }
        }

    def after_pipeline(self) -> None:
        if self.config.retry_errors:
            _end_retry(self.config.out_dir)
        else:
            _report_interrupted_retry(self.config)

    def summary_lines(self, data: dict[str, Any]) -> list[str]:
        """How many links a --retry-errors run fetched again, and how many now have a page."""
        retried = data.get("retry", {})
        if not retried.get("retried"):
            return []
        return [
            f"  retry: {retried['retried']:,} links fetched again after an error, "
            f"{retried.get('recovered', 0):,} of them now with a page"
        ]


def _refuse_old_pages(out_dir: str) -> None:
    """A pages/ (or its ledger) written before the current pages schema is never resumed:
    its rows lack columns this version writes (source, capture_time, attempts, ...)."""
    path = shards.join(out_dir, shards.JOB_FILE)
    if not shards.exists(path):
        return
    try:
        job = json.loads(shards.read_text(path))
        params = job.get("params") or {}
        stage = job.get("stage")
    except (ValueError, AttributeError):
        return  # prepare_output says what is wrong with it
    if stage not in ("pages", "fetch"):
        return
    found = params.get("pages_schema_version", 1)
    if found != schemas.PAGES_SCHEMA_VERSION:
        raise ValueError(
            f"{out_dir}: pages/ of an older webtext (pages schema {found}, this version writes "
            f"{schemas.PAGES_SCHEMA_VERSION}: source, capture_time, archive_record, attempts); "
            "fetch into a new --out, or pass --overwrite to fetch everything again"
        )


def _resume_from_ledger(config: FetchJobConfig) -> list[str]:
    """An earlier run's output (unfinished, or finished with errors to retry): its ledger
    files, temporaries removed; with --retry-errors, pages/ reopened to be rebuilt."""
    if config.retry_errors:
        _start_retry(config)
        # pages/ is rebuilt from the whole ledger, new rows included: shards kept from an
        # earlier run would miss the recovered pages. _SUCCESS goes first, so a kill from
        # here on leaves an unfinished run that any rerun resumes.
        reopened = shards.reopen_output(config.out_dir)
        log.info(
            "%s: retrying errors, so its %d shards and stats are rebuilt from the ledger",
            config.out_dir,
            reopened,
        )
    removed = shards.clean_temporaries(config.out_dir) + shards.clean_temporaries(config.ledger_dir)
    ledger = shards.list_shards(config.ledger_dir)
    done = sum(shards.shard_row_count(path) for path in ledger)
    log.info(
        "resuming %s: %d ledger rows (fetch outcomes) in %d files (%d temporary files removed)",
        config.out_dir,
        done,
        len(ledger),
        removed,
    )
    return ledger


def run_fetch(
    config: FetchJobConfig, beam_args: list[str] | None = None, *, overwrite: bool = False
) -> str:
    """Run the fetch job. Returns "complete" when it had already finished (and no retry was
    asked for), else "ran". The output directory is locked for the whole run: a second fetch
    on it would double the requests to every host."""
    return FetchJob(config).run(beam_args, overwrite=overwrite)
