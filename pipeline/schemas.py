"""Parquet schemas of every stage's output, declared once.

A stage validates its input directory against the schema of the stage before it, so a wrong
or missing column is reported with the file and column name instead of failing deep inside.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

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
    "docs": DOCS,
    "corpus": CORPUS,
    "dups": DUPS,
    "overlap": OVERLAP_DOCS,
}
