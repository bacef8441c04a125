"""The config of each stage's Beam job, and the ``webtext`` options it declares.

Each field declared with ``option`` is also a flag of the stage's command (pipeline/io/options.py):
its help, default and bounds live here and nowhere else. Kept apart from the jobs (Beam, pyarrow)
so the command line builds its options without importing them; each job module imports its
config from here. A stage's nested settings (ExtractConfig, FetchConfig, MinHashParams) declare
their own options the same way, in light modules of their packages.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from dedup.params import MinHashParams
from model.tokenizer import (
    ENCODER_FILE,
    GPT2_VOCAB_SIZE,
    MERGES_FILE,
    is_file,
    read_file_bytes,
    tokenizer_location,
)
from pipeline.archive.config import ArchiveConfig
from pipeline.extract_config import ExtractConfig
from pipeline.fetch.config import FetchConfig
from pipeline.io.options import check_options, option

LEDGER_DIR = "_fetched"  # fetch: PAGES_DIR/_fetched/, the per-link ledger
# fetch's performance knobs: changing them between a run and its resume is allowed.
FETCH_NOT_IN_SPEC = ("concurrency", "per_host", "host_delay_s", "resolve", "user_agent")
# the archives' performance knobs and cache place, likewise
ARCHIVE_NOT_IN_SPEC = ("archive_rate", "archive_concurrency", "archive_cache")

_NUM_SHARDS_HELP = "output shards"


def _schema_version() -> int:
    from pipeline.io import schemas  # pyarrow: only when a job runs

    return schemas.SCHEMA_VERSION


def _pages_schema_version() -> int:
    from pipeline.io import schemas

    return schemas.PAGES_SCHEMA_VERSION


@dataclass(frozen=True)
class LinksConfig:
    inputs: list[str]  # files (globs expanded) and reddit: specs
    out_dir: str
    min_score: int = option(3, "karma threshold")
    score_rule: str = option(
        "max",
        "max: some post of the URL has >= min-score (GPT-2 paper, default); "
        "sum: the scores of all its posts add up to >= min-score (OpenWebText2)",
        choices=("max", "sum"),
    )
    keep_nsfw: bool = option(False, "keep posts flagged over_18")
    num_shards: int = option(8, _NUM_SHARDS_HELP, min_value=1)
    reddit_site: str | None = option(None, "praw.ini site with the API credentials")
    praw_overrides: tuple[tuple[str, str], ...] = ()  # (key, value): e.g. oauth_url for tests

    def __post_init__(self) -> None:
        check_options(self)

    def params(self) -> dict[str, Any]:
        return {
            "min_score": self.min_score,
            "score_rule": self.score_rule,
            "keep_nsfw": self.keep_nsfw,
            "num_shards": self.num_shards,
            "schema_version": _schema_version(),
        }


@dataclass(frozen=True)
class FetchJobConfig:
    links_dir: str
    out_dir: str
    fetch: FetchConfig = field(default_factory=FetchConfig)
    # --source and where the archives are (pipeline/archive/config.py)
    archive: ArchiveConfig = field(default_factory=ArchiveConfig)
    # links ended per ledger file
    batch_size: int = option(200, "ended URLs per ledger file", min_value=1)
    # parallelism: links are grouped by hash(host) % host_groups
    host_groups: int = option(64, "parallel host groups", min_value=1)
    num_shards: int = option(8, _NUM_SHARDS_HELP, min_value=1)
    warc_inputs: tuple[str, ...] = ()  # --warc FILE...: written in the command (nargs="+")
    write_warc_dir: str | None = option(
        None, "also keep live responses as WARC files in DIR", flag="--write-warc", metavar="DIR"
    )
    # Error classes whose links are fetched again on this run (pipeline.fetch.retry). Not part
    # of the job spec: a retry is the same job continued, not a different one. --retry-errors
    # (an optional value) is written in the command.
    retry_errors: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        check_options(self)
        if self.warc_inputs and self.write_warc_dir:
            raise ValueError("--warc reads an archive, --write-warc keeps live responses: pick one")
        if self.warc_inputs and self.archive.sources() != ("live",):
            raise ValueError(
                "--warc reads local WARC files; --source names the sources of a web fetch"
            )
        if "warc" in self.archive.sources():
            raise ValueError("--source warc: give the WARC files with --warc FILE... instead")
        if self.warc_inputs and self.retry_errors:
            raise ValueError(
                "--retry-errors fetches failed links again from the web; a --warc run reads "
                "a fixed archive and keeps no ledger to retry from"
            )

    def params(self) -> dict[str, Any]:
        fetch = {k: v for k, v in self.fetch.to_dict().items() if k not in FETCH_NOT_IN_SPEC}
        params: dict[str, Any] = {
            "fetch": fetch,
            "source": "warc" if self.warc_inputs else ",".join(self.archive.sources()),
            "num_shards": self.num_shards,
            "schema_version": _schema_version(),
            "pages_schema_version": _pages_schema_version(),
        }
        if self.archive.sources() != ("live",) and not self.warc_inputs:
            params["archive"] = {
                k: v
                for k, v in self.archive.to_dict().items()
                if k not in ARCHIVE_NOT_IN_SPEC and k != "source"
            }
        return params

    @property
    def ledger_dir(self) -> str:
        from pipeline.io import shards

        return shards.join(self.out_dir, LEDGER_DIR)


@dataclass(frozen=True)
class ExtractJobConfig:
    pages_dir: str
    out_dir: str
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    num_shards: int = option(8, _NUM_SHARDS_HELP, min_value=1)

    def __post_init__(self) -> None:
        check_options(self)

    def params(self) -> dict[str, Any]:
        return {
            "extract": self.extract.to_dict(),
            "num_shards": self.num_shards,
            "schema_version": _schema_version(),
        }


@dataclass(frozen=True)
class DedupConfig:
    docs_dir: str
    out_dir: str
    dups_dir: str  # --dups-out, whose default derives from --out: written in the command
    minhash: MinHashParams = MinHashParams()
    val_fraction: float = option(0.005, "share of documents in the val split", min_value=0.0)
    test_fraction: float = option(0.005, "share of documents in the test split", min_value=0.0)
    max_bucket_neighbours: int = 64

    def __post_init__(self) -> None:
        from dedup.split import check_fractions

        check_options(self)
        check_fractions(self.val_fraction, self.test_fraction)

    def params(self) -> dict[str, Any]:
        mh = self.minhash
        return {
            "num_perm": mh.num_perm,
            "bands": mh.bands,
            "rows": mh.rows,
            "threshold": mh.threshold,
            "shingle": mh.shingle,
            "minhash_seed": mh.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            # corpus/ and dups/ shard i come from docs/ shard i (the filter pass); an output
            # of the earlier layout (rows hashed into --num-shards) is not resumed into this one
            "layout": "shard-per-input-shard",
            "max_bucket_neighbours": self.max_bucket_neighbours,
            "schema_version": _schema_version(),
        }


@dataclass(frozen=True)
class TokenizeConfig:
    corpus_dir: str
    out_dir: str
    # directory with encoder.json + vocab.bpe; else a BPE is trained
    gpt2_files: str | None = option(
        None, "directory with GPT-2's encoder.json and vocab.bpe", metavar="DIR"
    )
    vocab_size: int = option(
        GPT2_VOCAB_SIZE,
        "train a BPE with at most this many ids, <|endoftext|> included; at most 65536 "
        "(default: %(default)s)",
    )
    # when training: a pair must occur this often to be merged
    min_frequency: int = option(2, "training: minimum pair count", min_value=0)
    train_split: str = "train"
    max_train_docs: int | None = option(
        None, "training: use only the first N train documents (default: all)", min_value=1
    )
    num_shards: int = option(8, _NUM_SHARDS_HELP, min_value=1)
    batch_size: int = 1024  # documents per encode_batch call

    def __post_init__(self) -> None:
        from pipeline.tokenize import UINT16_LIMIT

        check_options(self)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not self.gpt2_files and not 257 <= self.vocab_size <= UINT16_LIMIT:
            raise ValueError(
                f"--vocab-size {self.vocab_size:,}: must be between 257 (256 bytes + "
                f"<|endoftext|>) and {UINT16_LIMIT:,} (ids are stored as uint16)"
            )

    def tokenizer_params(self) -> dict[str, Any]:
        if self.gpt2_files:
            d = tokenizer_location(self.gpt2_files)  # a local directory or s3://...
            return {
                "source": "files",
                "encoder_sha256": _sha256(f"{d}/{ENCODER_FILE}"),
                "merges_sha256": _sha256(f"{d}/{MERGES_FILE}"),
            }
        return {
            "source": "trained",
            "vocab_size": self.vocab_size,
            "min_frequency": self.min_frequency,
            "train_split": self.train_split,
            "max_train_docs": self.max_train_docs,
        }

    def params(self) -> dict[str, Any]:
        return {
            "tokenizer": self.tokenizer_params(),
            "num_shards": self.num_shards,
            "schema_version": _schema_version(),
        }


def _sha256(path: str) -> str:
    if not is_file(path):
        raise FileNotFoundError(
            f"{path}: not found; --gpt2-files needs a directory with {ENCODER_FILE} and "
            f"{MERGES_FILE}"
        )
    return hashlib.sha256(read_file_bytes(path)).hexdigest()


_TEST_SPEC_HELP = (
    "NAME[:FORMAT[:FIELD]]=PATH; formats text, lines, jsonl, parquet, wikitext, ptb, lambada "
    "(detected from the file name when omitted); repeat for several test sets"
)


@dataclass(frozen=True)
class OverlapConfig:
    """``webtext overlap``: the 8-gram Bloom filter of a corpus split and the test sets queried."""

    corpus_dir: str
    out_dir: str
    tests: list[str] = option([], _TEST_SPEC_HELP, flag="--test", metavar="SPEC", required=True)
    own_train: list[str] = option(
        [],
        "a test set's own training split, NAME=PATH with NAME of a --test: adds the paper's "
        "'dataset train' row",
        metavar="SPEC",
    )
    split: str = option("train", "corpus split to index")
    reference_name: str = option("WebText train", "row label of the corpus")
    fp_rate: float = option(1e-8, "target false-positive rate of the filter, in (0, 1)")
    expected_ngrams: int | None = option(
        None,
        "size the filter for this many 8-grams (default: estimated from the split's "
        "characters, an over-estimate)",
        min_value=1,
    )
    verify_queries: int = option(
        1_000_000, "random 8-grams queried to check the false-positive rate (0: skip)", min_value=0
    )
    ngram: int = 8
    filter_partitions: int = option(
        1,
        "build the filter as P filters, one per hash range (a power of two): no worker holds "
        "more than 1/P of the bits; the answers are the same (1: one filter)",
        metavar="P",
    )

    def __post_init__(self) -> None:
        """Every check that needs no file read: a bad option is one ValueError (one line at
        the CLI) before anything is read or claimed."""
        from dedup.ngram.partitioned import check_partition_count  # numpy: only when checked
        from eval.testsets import parse_test_specs

        check_options(self)
        check_partition_count(self.filter_partitions)  # BloomError, a ValueError
        if not 0.0 < self.fp_rate < 1.0:
            raise ValueError(f"--fp-rate must be in (0, 1), got {self.fp_rate}")
        tests = {t.name for t in parse_test_specs(self.tests)}
        unknown = sorted({s.name for s in parse_test_specs(self.own_train)} - tests)
        if unknown:
            raise ValueError(f"--own-train names {', '.join(unknown)} match no --test")

    def params(self) -> dict[str, Any]:
        # P = 1 leaves the job spec (and so _job.json) exactly as before partitions existed.
        extra = {"filter_partitions": self.filter_partitions} if self.filter_partitions != 1 else {}
        return extra | {
            "split": self.split,
            "fp_rate": self.fp_rate,
            "expected_ngrams": self.expected_ngrams,
            "verify_queries": self.verify_queries,
            "ngram": self.ngram,
            "reference_name": self.reference_name,
            "tests": sorted(self.tests),
            "own_train": sorted(self.own_train),
            "schema_version": _schema_version(),
        }
