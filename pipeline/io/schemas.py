"""Parquet schemas of every stage's output, declared once.

A stage validates its input directory against the schema of the stage before it, so a wrong
or missing column is reported with the file and column name instead of failing deep inside.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1
# pages/ and its ledger changed on their own: 2 added where a page was read from (an archive:
# source, capture_time, archive_record) and every source tried (attempts). A fetch output of
# an older version is refused on resume (beam_jobs.fetch_job), never mixed with new rows.
PAGES_SCHEMA_VERSION = 2

LINKS = pa.schema(
    [
        pa.field("link_id", pa.string(), nullable=False),  # 16 hex chars of sha1(url_key)
        pa.field("url", pa.string(), nullable=False),  # normalised, fetchable URL
        pa.field("url_key", pa.string(), nullable=False),  # scheme-, www- and slash-insensitive key
        pa.field("domain", pa.string(), nullable=False),  # host without a leading "www."
        pa.field("max_score", pa.int64(), nullable=False),
        pa.field("total_score", pa.int64(), nullable=False),
        pa.field("num_posts", pa.int64(), nullable=False),
        pa.field("post_ids", pa.list_(pa.string()), nullable=False),
        pa.field("subreddits", pa.list_(pa.string()), nullable=False),
        pa.field("first_seen_utc", pa.int64(), nullable=False),
        pa.field("first_title", pa.string(), nullable=False),
    ],
    metadata={"webtext.stage": "links", "webtext.schema_version": str(SCHEMA_VERSION)},
)

# The Reddit metadata a document carries from its link (for keepers, reports, analysis).
_LINK_METADATA = [
    pa.field("max_score", pa.int64(), nullable=False),
    pa.field("total_score", pa.int64(), nullable=False),
    pa.field("num_posts", pa.int64(), nullable=False),
    pa.field("subreddits", pa.list_(pa.string()), nullable=False),
    pa.field("first_seen_utc", pa.int64(), nullable=False),
]

# docs/: one extracted document per fetched page (written by `webtext extract`).
DOCS = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),  # = link_id: url_id(url_key)
        pa.field("url", pa.string(), nullable=False),  # the link's normalised URL
        pa.field("final_url", pa.string(), nullable=False),  # after redirects
        pa.field("domain", pa.string(), nullable=False),
        pa.field("title", pa.string(), nullable=True),
        pa.field("text", pa.string(), nullable=False),
        pa.field("n_chars", pa.int64(), nullable=False),
        *_LINK_METADATA,
    ],
    metadata={"webtext.stage": "docs", "webtext.schema_version": str(SCHEMA_VERSION)},
)

# corpus/: de-duplicated docs with a stable train/val/test split (written by `webtext dedup`).
CORPUS = pa.schema(
    [*DOCS, pa.field("split", pa.string(), nullable=False)],
    metadata={"webtext.stage": "corpus", "webtext.schema_version": str(SCHEMA_VERSION)},
)


# pages/: one fetched response per link (written by `webtext fetch`). The stage's Parquet shards
# hold the pages that can go on to extraction (error is null there); pages/_fetched/ holds the
# fetch ledger in the same schema, every link's outcome including the failed ones (error set).
PAGES = pa.schema(
    [
        pa.field("link_id", pa.string(), nullable=False),  # = LINKS.link_id
        pa.field("url", pa.string(), nullable=False),  # the link's normalised URL
        pa.field("domain", pa.string(), nullable=False),
        pa.field("final_url", pa.string(), nullable=False),  # after redirects
        pa.field("status", pa.int32(), nullable=False),  # HTTP status of the last hop, 0 if none
        pa.field("content_type", pa.string(), nullable=True),  # media type, lower-case
        pa.field("charset", pa.string(), nullable=True),  # detected Python codec name
        pa.field("headers", pa.map_(pa.string(), pa.string()), nullable=False),  # chosen headers
        pa.field("body", pa.binary(), nullable=True),  # zstd frame of the decoded body
        pa.field("body_bytes", pa.int64(), nullable=False),  # decoded body length
        pa.field("error", pa.string(), nullable=True),  # error class; null for a usable page
        pa.field("elapsed_ms", pa.int64(), nullable=False),
        pa.field("redirects", pa.int32(), nullable=False),
        pa.field("retries", pa.int32(), nullable=False),
        pa.field("source", pa.string(), nullable=False),  # live, cc, wayback or warc
        pa.field("fetched_utc", pa.int64(), nullable=False),  # when fetched (WARC: record date)
        # archive pages (cc, wayback): when the capture was made; null for live and warc
        pa.field("capture_time", pa.int64(), nullable=True),
        # cc: crawl:file:offset:length of the WARC record; wayback: its 14-digit timestamp
        pa.field("archive_record", pa.string(), nullable=True),
        # every source tried for this link, in order: "cc:no_capture", "live:page", ...
        pa.field("attempts", pa.list_(pa.string()), nullable=False),
        *_LINK_METADATA,
    ],
    metadata={
        "webtext.stage": "pages",
        "webtext.schema_version": str(SCHEMA_VERSION),
        "webtext.pages_schema_version": str(PAGES_SCHEMA_VERSION),
    },
)


# tokens/: one row per document of corpus/, its ids followed by <|endoftext|> (`webtext tokenize`).
# uint16 ids: a vocabulary of at most 65,536 entries (GPT-2's is 50,257). Rows are sorted by
# (split, doc_id) inside a shard, so each split is a contiguous run of row groups.
TOKENS = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),  # train / val / test, as in corpus/
        pa.field("n_tokens", pa.int64(), nullable=False),  # len(tokens), end-of-text included
        pa.field("tokens", pa.list_(pa.uint16()), nullable=False),
    ],
    metadata={"webtext.stage": "tokens", "webtext.schema_version": str(SCHEMA_VERSION)},
)


# dups/: one row per document `webtext dedup` removed, with the document kept in its place.
DUPS = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),  # the removed document
        pa.field("keeper_id", pa.string(), nullable=False),  # the corpus document kept instead
        pa.field("similarity", pa.float64(), nullable=False),  # estimated Jaccard (1.0: exact)
        pa.field("reason", pa.string(), nullable=False),  # "exact" | "near"
        pa.field("url", pa.string(), nullable=False),  # of the removed document
        pa.field("keeper_url", pa.string(), nullable=False),
    ],
    metadata={"webtext.stage": "dups", "webtext.schema_version": str(SCHEMA_VERSION)},
)

# overlap/documents/: 8-gram overlap of each test document with each reference filter.
OVERLAP_DOCS = pa.schema(
    [
        pa.field("test_set", pa.string(), nullable=False),
        pa.field("reference", pa.string(), nullable=False),  # e.g. "WebText train", "own train"
        pa.field("doc_index", pa.int64(), nullable=False),  # position in the test set
        pa.field("doc_key", pa.string(), nullable=False),  # reader's id: line number, title...
        pa.field("n_ngrams", pa.int64(), nullable=False),
        pa.field("n_found", pa.int64(), nullable=False),
        pa.field("fraction", pa.float64(), nullable=False),  # n_found / n_ngrams
    ],
    metadata={"webtext.stage": "overlap", "webtext.schema_version": str(SCHEMA_VERSION)},
)

STAGE_SCHEMAS: dict[str, pa.Schema] = {
    "links": LINKS,
    "pages": PAGES,
    "docs": DOCS,
    "corpus": CORPUS,
    "dups": DUPS,
    "tokens": TOKENS,
    "overlap": OVERLAP_DOCS,
}
