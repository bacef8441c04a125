"""The demo's dedup + overlap step: docs -> corpus + dups -> overlap table showing the planted
contamination."""

from __future__ import annotations

from synthetic import jsonl_texts

from pipeline.demo.dedup_overlap import dedup_overlap_step
from pipeline.io import schemas, shards
from tests.test_dedup_job import doc_row, write_docs


def test_demo_step_prints_dedup_and_contamination(shared_file, tmp_path, capsys):
    texts = jsonl_texts(shared_file("webtext", "webtext.valid.jsonl"), limit=40)
    rows = [doc_row(t, f"web:{i}") for i, t in enumerate(texts)]
    rows.append(doc_row(texts[0] + "  ", "web:copy", score=1))  # an exact duplicate
    write_docs(tmp_path / "docs", rows, num_shards=2)
    dedup_overlap_step(tmp_path, ["--direct_num_workers=1"])
    out = capsys.readouterr().out
    assert "[demo] dedup -> " in out and "41 in -> 40 out" in out
    assert "Percentage of test set 8-grams found" in out
    table = out[out.index("reference \\ test") :].splitlines()
    header, webtext_row = table[0].split(), table[1].split()
    cells = dict(zip(header[3:], webtext_row[2:], strict=True))
    assert float(cells["contaminated"].rstrip("%")) > 30  # the copied paragraphs
    assert float(cells["heldout"].rstrip("%")) < 5
    assert len(shards.read_rows(str(tmp_path / "dups"), schemas.DUPS)) == 1


def test_demo_step_on_empty_docs(tmp_path, capsys):
    shards.write_shard(str(tmp_path / "docs"), shards.shard_name(0, 1), [], schemas.DOCS)
    shards.finish_output(str(tmp_path / "docs"), {})
    dedup_overlap_step(tmp_path, ["--direct_num_workers=1"])
    out = capsys.readouterr().out
    assert "0 in -> 0 out" in out and "overlap skipped" in out
    assert shards.read_rows(str(tmp_path / "corpus"), schemas.CORPUS) == []
