"""`webtext fetch`: links/ -> pages/ (live HTTP or WARC archives; a Beam job)."""

from __future__ import annotations

import argparse

from pipeline.commands import BEAM_EPILOG


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fetch",
        help="links/ -> pages/: fetch every link (asyncio client inside Beam, or WARC files)",
        description=(
            "Fetch the page of every link in LINKS_DIR and write pages/ Parquet shards with "
            "stats.json. Every link ends as a page or a counted error; the full per-link ledger, "
            "errors included, stays in PAGES_DIR/_fetched/. Rerunning the same command resumes: "
            "links already in the ledger are not fetched again, and a finished output is left "
            "as is unless --retry-errors asks to fetch recorded errors again. Hosts that "
            "resolve to private, loopback, link-local or cloud-metadata addresses are refused "
            "unless --allow-private."
        ),
        epilog=BEAM_EPILOG,
    )
    p.add_argument("links_dir", metavar="LINKS_DIR", help="output of `webtext links`")
    p.add_argument("--out", required=True, help="output directory PAGES_DIR")
    p.add_argument("--allow-private", action="store_true", help="allow loopback/private addresses")
    p.add_argument(
        "--warc",
        nargs="+",
        metavar="FILE",
        help="read responses from WARC files (globs) instead of the web",
    )
    p.add_argument(
        "--write-warc", metavar="DIR", help="also keep live responses as WARC files in DIR"
    )
    p.add_argument(
        "--resolve",
        action="append",
        default=[],
        metavar="HOST:PORT:ADDR[:PORT]",
        help="connect to ADDR (and PORT) for HOST:PORT, like curl --resolve / --connect-to; repeatable",
    )
    p.add_argument(
        "--concurrency", type=int, default=64, help="requests in flight per worker batch"
    )
    p.add_argument("--per-host", type=int, default=2, help="requests in flight per host")
    p.add_argument(
        "--host-delay", type=float, default=0.5, help="seconds between requests to a host"
    )
    p.add_argument("--timeout", type=float, default=45.0, help="seconds per attempt, body included")
    p.add_argument("--connect-timeout", type=float, default=10.0, help="seconds to connect")
    p.add_argument("--read-timeout", type=float, default=20.0, help="longest silence while reading")
    p.add_argument("--retries", type=int, default=2, help="retries on 429/5xx")
    p.add_argument(
        "--max-retry-after", type=float, default=30.0, help="longest Retry-After honoured"
    )
    p.add_argument("--max-redirects", type=int, default=5, help="redirect hops followed")
    p.add_argument("--max-body-mb", type=float, default=4.0, help="body size cap in MiB")
    p.add_argument("--user-agent", help="User-Agent header")
    p.add_argument("--respect-robots", action="store_true", help="obey robots.txt")
    p.add_argument("--batch-size", type=int, default=200, help="URLs per ledger file / event loop")
    p.add_argument("--host-groups", type=int, default=64, help="parallel host groups")
    p.add_argument("--num-shards", type=int, default=8, help="output shards")
    p.add_argument(
        "--retry-errors",
        nargs="?",
        const="transient",
        default=None,
        metavar="CLASSES",
        help=(
            "on a rerun (finished output or not), fetch again the links whose recorded outcome "
            "is an error of these classes: a comma list; 'transient' (the default when no value "
            "is given) means timeout, connection and DNS errors, truncated bodies, HTTP 408, "
            "429, 5xx gateway/overload statuses (see pipeline/fetch/retry.py); e.g. "
            "'transient,http_404'. pages/ and stats.json are then rebuilt from the whole ledger"
        ),
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.set_defaults(handler=_run_fetch)


def _run_fetch(args: argparse.Namespace, beam_args: list[str]) -> int:
    from beam_jobs.fetch_job import FetchJob, FetchJobConfig, run_fetch
    from pipeline.fetch.client import DEFAULT_USER_AGENT, FetchConfig
    from pipeline.fetch.retry import parse_retry_classes

    retry = parse_retry_classes(args.retry_errors) if args.retry_errors is not None else frozenset()
    fetch = FetchConfig(
        concurrency=args.concurrency,
        per_host=args.per_host,
        host_delay_s=args.host_delay,
        connect_timeout_s=args.connect_timeout,
        read_timeout_s=args.read_timeout,
        total_timeout_s=args.timeout,
        max_retries=args.retries,
        max_retry_after_s=args.max_retry_after,
        max_redirects=args.max_redirects,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        user_agent=args.user_agent or DEFAULT_USER_AGENT,
        respect_robots=args.respect_robots,
        allow_private=args.allow_private,
        resolve=tuple(args.resolve),
    )
    config = FetchJobConfig(
        links_dir=args.links_dir,
        out_dir=args.out,
        fetch=fetch,
        batch_size=args.batch_size,
        host_groups=args.host_groups,
        num_shards=args.num_shards,
        warc_inputs=tuple(args.warc or ()),
        write_warc_dir=args.write_warc,
        retry_errors=retry,
    )
    run_fetch(config, beam_args, overwrite=args.overwrite)
    print(FetchJob(config).summary())
    return 0
