"""What dedup shuffles: ids, places and signatures, never text. Its _stats.json records the
bytes that entered its GroupByKeys/CoGroupByKeys (``shuffle_bytes``, also the Beam counter
``webtext:dedup_shuffle_bytes``), and that figure does not grow with the documents' length.

The bound, from the compact records' sizes (dedup/records.py) with the defaults (128
permutations, 20 bands), per document:
  ID_ROWS      doc_id (16 hex) + shard + row + offsets                         ~   30 B
  EXACT_ROWS   exact key (32 hex) + doc_id + url (~45) + place + 2 int64        ~  130 B
  SIG_ROWS     signature 512 B + the EXACT_ROWS fields, shuffled twice (the
               representatives' join and the pair ends' join)                   ~ 1300 B
  BAND_ROWS    20 x (key 10 B + offset + place)                                 ~  450 B
  representatives' rows, skipped rows, pairs, removals                          <   50 B
about 1.9 KB, plus Arrow IPC framing per blob (a schema and a header per partition and input
shard: a few hundred bytes each, which a tiny test corpus spreads over few documents). So
4 KB per document bounds it here, whatever the text: a corpus of ~8 KB documents shuffles
less than half its text, and one of ~1 KB documents about as many bytes as one of ~8 KB.
"""

from __future__ import annotations

import apache_beam as beam
import xxhash
from apache_beam.metrics.metric import MetricsFilter
from synthetic import prose_documents

from beam_jobs.dedup_job import DedupConfig, DeduplicateDocs, run_dedup
from pipeline.io import schemas, shards
from tests.helpers import doc_record
from tests.test_dedup_job import write_docs

DOCS = 120
PER_DOC_BOUND = 4000  # bytes; see the module docstring


def _corpus(prose: list[tuple[str, str]], sentences: int) -> list[dict]:
    """DOCS documents of ``sentences`` consecutive prose sentences each, distinct texts."""
    rows = []
    for i in range(DOCS):
        text = " ".join(t for _, t in prose[i * sentences : (i + 1) * sentences])
        key = f"doc:{i}"
        rows.append(doc_record(xxhash.xxh64_hexdigest(key.encode()), text, path=f"doc/{i}"))
    return rows


def _shuffled(tmp_path, name: str, rows: list[dict]) -> int:
    docs, out = tmp_path / name / "docs", tmp_path / name / "corpus"
    write_docs(docs, rows)
    run_dedup(DedupConfig(str(docs), str(out), str(tmp_path / name / "dups")))
    stats = shards.read_stats(str(out))
    assert stats["records_out"] == len(rows)  # distinct texts: nothing removed
    assert len(shards.read_rows(str(out), schemas.CORPUS, columns=["doc_id"])) == len(rows)
    return stats["shuffle_bytes"]


def _counted(tmp_path, name: str) -> int:
    """The Beam counter webtext:dedup_shuffle_bytes of DeduplicateDocs over docs/ of ``name``."""
    docs = tmp_path / name / "docs"
    inputs = shards.list_shards(str(docs))
    cfg = DedupConfig(str(docs), str(tmp_path / name / "again"), str(tmp_path / name / "dups2"))
    p = beam.Pipeline()
    _ = p | beam.Create(list(enumerate(inputs))) | DeduplicateDocs(cfg, inputs)
    result = p.run()
    result.wait_until_finish()
    found = result.metrics().query(MetricsFilter().with_name("dedup_shuffle_bytes"))["counters"]
    return sum(c.committed for c in found)


def test_shuffle_bytes_per_document_do_not_grow_with_the_text(shared_file, tmp_path):
    # one sentence per "document" of prose_documents: consecutive sentences, cut as we like
    prose = prose_documents(
        shared_file("prose", "nltk_gutenberg_17books.tar.xz"), sentences_per_doc=1, limit=DOCS * 64
    )
    short, long = _corpus(prose, 8), _corpus(prose, 64)
    short_text = sum(len(r["text"].encode()) for r in short) / DOCS
    long_text = sum(len(r["text"].encode()) for r in long) / DOCS
    assert 500 < short_text < 2000 and long_text > 6000  # ~1 KB and ~8 KB documents

    short_total = _shuffled(tmp_path, "short", short)
    assert _counted(tmp_path, "short") == short_total  # the Beam counter says the same
    short_bytes = short_total / DOCS
    long_bytes = _shuffled(tmp_path, "long", long) / DOCS

    assert 0 < short_bytes < PER_DOC_BOUND
    assert 0 < long_bytes < PER_DOC_BOUND
    assert long_bytes < long_text / 2
    # 8x the text, the same records: only the urls' and ids' lengths differ (not at all here)
    assert long_bytes < 1.1 * short_bytes
