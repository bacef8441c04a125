"""`webtext overlap` end to end on a corpus of real text: contamination measured exactly,
per-document and per-set outputs, verification, reruns, bad inputs; plus the CLI."""

from __future__ import annotations

import json

import pytest
from synthetic import prose_documents

from beam_jobs.overlap_job import OverlapConfig, run_overlap
from dedup.ngram.overlap import format_table
from dedup.ngram.overlap_dir import read_results
from dedup.split import assign_split
from pipeline import cli
from pipeline.io import schemas, shards
from pipeline.io.shards import ShardError
from tests.helpers import write_prose_corpus

BEAM = ["--direct_num_workers=1"]


@pytest.fixture(scope="module")
def corpus(shared_file, tmp_path_factory):
    """Real prose documents: 300 in train, 60 held out; written as 3 corpus shards."""
    docs = prose_documents(
        shared_file("prose", "nltk_gutenberg_17books.tar.xz"), sentences_per_doc=8, limit=360
    )
    root = tmp_path_factory.mktemp("overlap")
    rows = write_prose_corpus(root / "corpus", [text for _, text in docs], n_train=300)
    train = [r["text"] for r in rows if r["split"] == "train"]
    held = [r["text"] for r in rows if r["split"] == "test"]
    # Contaminated test set: 20 copied training documents and 20 held-out ones, as paragraphs.
    (root / "contaminated.txt").write_text("\n\n".join(train[:40:2] + held[:20]) + "\n")
    (root / "heldout.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in held))
    (root / "own_train.txt").write_text("\n\n".join(held[:10]) + "\n")
    return root


@pytest.fixture(scope="module")
def overlap_run(corpus):
    config = OverlapConfig(
        corpus_dir=str(corpus / "corpus"),
        tests=[
            f"contaminated={corpus / 'contaminated.txt'}",
            f"heldout={corpus / 'heldout.jsonl'}",
        ],
        own_train=[f"heldout={corpus / 'own_train.txt'}"],
        out_dir=str(corpus / "out"),
        verify_queries=200_000,
    )
    return config, run_overlap(config, BEAM)


def test_contamination_is_measured(overlap_run):
    config, results = overlap_run
    by = {(r.reference, r.test_set): r for r in results}
    dirty = by[("WebText train", "contaminated")]
    fractions = [d.fraction for d in dirty.documents]
    assert fractions[:20] == [1.0] * 20  # every 8-gram of a copied training document found
    assert max(fractions[20:]) < 0.05  # held-out prose: at most a few common phrases
    assert 45 < dirty.percent < 55
    assert by[("WebText train", "heldout")].percent < 2
    own = by[("heldout own train", "heldout")]
    assert [d.fraction for d in own.documents[:10]] == [1.0] * 10
    assert max(d.fraction for d in own.documents[10:]) < 0.05


def test_outputs_written(overlap_run):
    config, results = overlap_run
    out = config.out_dir
    rows = shards.read_rows(shards.join(out, "documents"), schemas.OVERLAP_DOCS)
    assert len(rows) == sum(len(r.documents) for r in results)
    stats = shards.read_stats(shards.join(out, "documents"))
    assert stats["records_in"] == stats["records_out"] + stats["dropped_total"]
    sets = json.loads(shards.read_text(shards.join(out, "sets.json")))
    assert {(s["reference"], s["test_set"]) for s in sets["sets"]} == {
        ("WebText train", "contaminated"),
        ("WebText train", "heldout"),
        ("heldout own train", "heldout"),
    }
    ref = sets["reference_filter"]
    assert ref["split_counts"]["documents"] == 300
    assert ref["items_inserted"] == ref["split_counts"]["ngrams"]
    assert ref["expected_items"] >= ref["items_inserted"]  # the estimate over-sizes
    verify = json.loads(shards.read_text(shards.join(out, "verify.json")))
    assert verify["false_positives"] <= 1 and verify["rate_from_fill"] < 1e-8
    table = shards.read_text(shards.join(out, "table.txt"))
    assert table.strip() == format_table(results)
    assert "heldout own train" in table and "-" in table.splitlines()[-1]


def test_rerun_reads_back_the_same_results(overlap_run):
    config, results = overlap_run
    again = run_overlap(config, BEAM)
    assert format_table(again) == format_table(results)
    assert [r.summary() for r in read_results(config.out_dir)] == [r.summary() for r in results]


def test_bad_inputs(corpus, tmp_path):
    base = dict(corpus_dir=str(corpus / "corpus"), out_dir=str(tmp_path / "o"))
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="'e'.*no documents"):
        run_overlap(OverlapConfig(tests=[f"e={tmp_path / 'empty.txt'}"], **base), BEAM)
    with pytest.raises(FileNotFoundError, match="'m'.*no such file"):
        run_overlap(OverlapConfig(tests=[f"m={tmp_path / 'missing.txt'}"], **base), BEAM)
    with pytest.raises(ValueError, match="match no --test"):
        run_overlap(
            OverlapConfig(
                tests=[f"h={corpus / 'heldout.jsonl'}"],
                own_train=[f"x={corpus / 'own_train.txt'}"],
                **base,
            ),
            BEAM,
        )
    (tmp_path / "docs").mkdir()
    with pytest.raises(ShardError, match="_SUCCESS"):
        run_overlap(
            OverlapConfig(
                corpus_dir=str(tmp_path / "docs"),
                tests=[f"h={corpus / 'heldout.jsonl'}"],
                out_dir=str(tmp_path / "o2"),
            ),
            BEAM,
        )


def test_cli_overlap_and_verify(corpus, tmp_path, capsys):
    out = tmp_path / "cli"
    rc = cli.main(
        [
            "overlap",
            str(corpus / "corpus"),
            "--test",
            f"contaminated={corpus / 'contaminated.txt'}",
            "--out",
            str(out),
            "--verify-queries",
            "50000",
            *BEAM,
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "WebText train" in printed and "contaminated" in printed
    assert "queried 50,000 random 8-grams" in printed
    rc = cli.main(
        ["overlap-verify", str(out / "filters" / "reference.bloom"), "--queries", "20000"]
    )
    assert rc == 0
    assert "27 probes" in capsys.readouterr().out
    (tmp_path / "bad.bloom").write_bytes(b"garbage")
    assert cli.main(["overlap-verify", str(tmp_path / "bad.bloom")]) == 2


def test_cli_dedup_runs_and_splits(corpus, tmp_path, capsys):
    # A corpus directory has every docs column: it is valid dedup input too.
    rc = cli.main(
        [
            "dedup",
            str(corpus / "corpus"),
            "--out",
            str(tmp_path / "c" / "corpus"),
            *BEAM,
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "360 in -> 360 out" in printed
    rows = shards.read_rows(str(tmp_path / "c" / "corpus"), schemas.CORPUS)
    assert all(r["split"] == assign_split(r["doc_id"]) for r in rows)
    assert shards.exists(str(tmp_path / "c" / "dups" / "_SUCCESS"))


@pytest.mark.parametrize(
    "argv", [["--help"], ["dedup", "--help"], ["overlap", "--help"], ["overlap-verify", "--help"]]
)
def test_help_texts_render(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 0
    assert "usage: webtext" in capsys.readouterr().out


def test_filter_build_keeps_complete_partials_and_leaves_none(corpus, tmp_path):
    """The one-filter build: the partials are merged away (no filters/partial/ left); a rerun
    after a kill keeps a complete partial (its .json written) and reads only the shards it
    does not cover, giving the same filter; an unfinished partial is removed."""
    import numpy as np

    from beam_jobs.overlap_job import BuildBundleFilter, build_reference_filter, kept_partials
    from dedup.ngram.bloom import BloomFilter, BloomParams

    fresh = OverlapConfig(
        corpus_dir=str(corpus / "corpus"),
        tests=[f"t={corpus / 'heldout.jsonl'}"],
        out_dir=str(tmp_path / "a"),
    )
    final, counts = build_reference_filter(fresh, BEAM)
    assert not (tmp_path / "a" / "filters" / "partial").exists()
    assert not list((tmp_path / "a" / "filters").glob("_tmp-*"))
    params = BloomFilter.load(final).params

    # A killed run: shard 0's partial complete, another partial without its .json, a temp file.
    inputs = shards.list_shards(str(corpus / "corpus"))
    partial = tmp_path / "b" / "filters" / "partial"
    fn = BuildBundleFilter(params, str(partial), "train")
    fn.start_bundle()
    fn.process(inputs[0])
    (done,) = list(fn.finish_bundle())
    BloomFilter(params).save(partial / "bundle-unfinished.bloom")
    (partial / "_tmp-0-bundle-x.bloom").write_bytes(b"half")
    kept = kept_partials(str(partial), params)
    assert [p for p, _ in kept] == [done.value[0]]
    assert sorted(p.name for p in partial.iterdir()) == sorted(
        [done.value[0].rpartition("/")[2], done.value[0].rpartition("/")[2][:-6] + ".json"]
    )
    assert kept_partials(str(partial), BloomParams.for_capacity(10, 0.1)) == []  # other params
    fn.start_bundle()
    fn.process(inputs[0])
    list(fn.finish_bundle())
    resumed = OverlapConfig(
        corpus_dir=str(corpus / "corpus"),
        tests=[f"t={corpus / 'heldout.jsonl'}"],
        out_dir=str(tmp_path / "b"),
    )
    final_b, counts_b = build_reference_filter(resumed, BEAM)
    assert counts_b == counts
    assert np.array_equal(BloomFilter.load(final_b).bits, BloomFilter.load(final).bits)
    assert not partial.exists()
