"""The Bloom filter partitioned by hash range (dedup.ngram.partitioned, `webtext overlap
--filter-partitions P`): routing properties, the same answers as one filter, the false-positive
rate within the statistical bound of theory, files (manifest, missing or wrong partitions), and
the Beam build end to end: identical overlap results for P = 1 and P = 4, resume keeping the
finished partition files, the CLI."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic import prose_documents

from beam_jobs.overlap_job import OverlapConfig, run_overlap
from dedup import text as textmod
from dedup.ngram import partitioned as part
from dedup.ngram.bloom import BloomError, BloomFilter, BloomParams, theoretical_fp_rate
from dedup.ngram.overlap import format_table, random_ngram_hashes
from eval import memorization as mem
from pipeline import cli
from pipeline.io import schemas, shards
from tests.helpers import write_prose_corpus

BEAM = ["--direct_num_workers=1"]
BACKENDS = ["numpy"] + (["numba"] if importlib.util.find_spec("numba") else [])
U64 = st.integers(min_value=0, max_value=2**64 - 1)
POWERS = st.sampled_from([1 << r for r in range(17)])


def random_items(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)


# -- routing ------------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(hashes=st.lists(U64, max_size=200), partitions=POWERS)
def test_routing_is_deterministic_in_range_and_invertible(hashes, partitions):
    arr = np.array(hashes, dtype=np.uint64)
    pid = part.partition_of(arr, partitions)
    assert pid.shape == arr.shape
    assert np.array_equal(pid, part.partition_of(arr.copy(), partitions))  # deterministic
    assert all(0 <= int(p) < partitions for p in pid)
    r = partitions.bit_length() - 1
    for h, p in zip(hashes, pid.tolist(), strict=True):
        assert p == h >> (64 - r) if r else p == 0  # the hash's own range
    # The local item drops exactly the routing bits: (partition, local item) gives g back.
    local = part.local_items(arr, partitions)
    for h, p, x in zip(hashes, pid.tolist(), local.tolist(), strict=True):
        assert ((p << (64 - r)) | (x >> r) if r else x) == h
    grouped = part.group_by_partition(arr, partitions)
    assert grouped.bounds[0] == 0 and grouped.bounds[-1] == len(arr)
    sizes = np.diff(grouped.bounds)
    assert np.array_equal(sizes, np.bincount(pid, minlength=partitions))
    assert [i for i, _ in grouped.nonempty()] == sorted(set(pid.tolist()))
    for index in sorted(set(pid.tolist())):
        members = grouped.order[grouped.bounds[index] : grouped.bounds[index + 1]]
        assert (pid[members] == index).all()
        assert np.array_equal(grouped.partition(index), local[members])
        assert list(members) == sorted(members)  # stable: input order kept in a partition


@pytest.mark.parametrize("bad", [0, 3, 6, -4, 1 << 17, 2.0])
def test_partition_count_must_be_a_power_of_two(bad):
    with pytest.raises(BloomError, match="power of two"):
        part.check_partition_count(bad)


def test_routing_is_balanced():
    pid = part.partition_of(random_items(400_000, 5), 8)
    counts = np.bincount(pid, minlength=8)
    assert np.abs(counts - 50_000).max() < 5 * math.sqrt(50_000 * 7 / 8)


# -- the filter ----------------------------------------------------------------------------------
def test_one_partition_is_the_plain_filter():
    items = random_items(20_000, 1)
    plain = BloomFilter(BloomParams.for_capacity(20_000, 1e-4))
    plain.add_hashes(items)
    one = part.PartitionedBloom.empty(20_000, 1e-4, 1)
    one.add_hashes(items)
    assert one.parts[0].params == plain.params
    assert np.array_equal(one.parts[0].bits, plain.bits)
    queries = random_items(50_000, 2)
    assert np.array_equal(one.contains_hashes(queries), plain.contains_hashes(queries))


def test_sizing_splits_n_and_keeps_p():
    pb = part.PartitionedBloom.empty(1_000_000, 1e-8, 8)
    single = BloomParams.for_capacity(1_000_000, 1e-8)
    assert pb.parts[0].params == BloomParams.for_capacity(125_000, 1e-8)
    assert pb.params.num_hashes == single.num_hashes == 27
    assert abs(pb.params.num_bits / single.num_bits - 1) < 1e-4  # ~m bits in all
    assert pb.params.expected_items == 1_000_000 and pb.params.target_fp_rate == 1e-8
    assert pb.parts[0].bits.nbytes * 8 < single.num_bits / 8 + 64  # a worker holds m / P


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("partitions", [4, 64])
def test_false_positive_rate_matches_theory(partitions, backend):
    """The bound test_dedup_bloom.py applies to one filter: hits within 4 sigma of both the
    formula and the bits actually set; and no false negatives."""
    n, p = 50_000, 0.001
    pb = part.PartitionedBloom.empty(n, p, partitions, backend=backend)
    items = random_items(n, seed=1)
    pb.add_hashes(items)
    assert pb.items_inserted == n
    assert pb.contains_hashes(items).all()  # no false negatives, ever
    queries = 400_000
    hits = int(pb.contains_hashes(random_items(queries, seed=2)).sum())
    for rate in (
        theoretical_fp_rate(pb.params.num_bits, pb.params.num_hashes, n),
        pb.estimated_fp_rate(),
    ):
        expected = rate * queries
        assert abs(hits - expected) <= 4 * math.sqrt(expected), (hits, expected)
    assert abs(pb.estimated_distinct_items() - n) < 0.02 * n


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_answers_as_one_filter_on_text(shared_file, backend):
    """Real prose: every inserted 8-gram is found in both; queries of unseen text get the same
    answers from P = 1 and P = 8 (at p = 1e-8 false positives do not occur at this size)."""
    docs = [t for _, t in prose_documents(
        shared_file("prose", "nltk_gutenberg_17books.tar.xz"), sentences_per_doc=8, limit=400
    )]  # fmt: skip
    train, test = docs[:300], docs[300:] + docs[:300:7]
    n = sum(max(0, len(textmod.words(t)) - 7) for t in train)
    one = part.PartitionedBloom.empty(n, 1e-8, 1, backend=backend)
    eight = part.PartitionedBloom.empty(n, 1e-8, 8, backend=backend)
    for t in train:
        assert one.add_text(t) == eight.add_text(t)
    for t in train:
        assert eight.query_normalised(textmod.normalised_codepoints(t)).all()
    for t in test:
        norm = textmod.normalised_codepoints(t)
        assert np.array_equal(one.query_normalised(norm), eight.query_normalised(norm))
        assert one.query_text(t) == eight.query_text(t)
    assert eight.query_text("lazy dog") == (0, 0)


def test_save_load_and_bad_files(tmp_path):
    pb = part.PartitionedBloom.empty(10_000, 1e-6, 4, seed=3)
    pb.add_hashes(random_ngram_hashes(10_000, seed=4))
    manifest = pb.save(tmp_path / "f")
    assert manifest == str(tmp_path / "f" / "manifest.json")
    names = sorted(p.name for p in (tmp_path / "f").iterdir())
    assert names == ["manifest.json"] + [f"part-{i:05d}-of-00004.bloom" for i in range(4)]
    queries = np.concatenate([random_ngram_hashes(10_000, seed=4), random_items(5_000, 9)])
    for mmap in (False, True):
        for path in (tmp_path / "f", manifest):
            loaded = part.load_filter(path, mmap=mmap)
            assert isinstance(loaded, part.PartitionedBloom)
            assert loaded.params == pb.params and loaded.items_inserted == 10_000
            assert np.array_equal(loaded.contains_hashes(queries), pb.contains_hashes(queries))
    assert not list((tmp_path / "f").glob("_tmp-*"))

    def broken(name: str):
        d = tmp_path / name
        shutil.copytree(tmp_path / "f", d)
        return d

    d = broken("missing")
    (d / "part-00002-of-00004.bloom").unlink()
    with pytest.raises(BloomError, match=r"part-00002-of-00004\.bloom: partition 2 of 4 is miss"):
        part.load_filter(d)
    d = broken("truncated")
    data = (d / "part-00001-of-00004.bloom").read_bytes()
    (d / "part-00001-of-00004.bloom").write_bytes(data[:-5])
    with pytest.raises(BloomError, match=r"part-00001-of-00004\.bloom: truncated"):
        part.load_filter(d)
    d = broken("swapped")  # a complete file in the wrong place
    shutil.copy(d / "part-00000-of-00004.bloom", d / "part-00003-of-00004.bloom")
    with pytest.raises(BloomError, match=r"part-00003-of-00004\.bloom: header says partition"):
        part.load_filter(d)
    d = broken("other_params")
    BloomFilter(BloomParams.for_capacity(99, 1e-6)).save(
        d / "part-00001-of-00004.bloom", extra=part.partition_header(1, 4)
    )
    with pytest.raises(BloomError, match="other parameters"):
        part.load_filter(d)
    d = broken("manifest")
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(BloomError, match="corrupt manifest"):
        part.load_filter(d)
    (d / "manifest.json").unlink()
    with pytest.raises(BloomError, match="neither manifest.json nor reference.bloom"):
        part.load_filter(d)
    d = broken("routing")
    raw = json.loads((d / "manifest.json").read_text())
    (d / "manifest.json").write_text(json.dumps(raw | {"routing": "low-bits/v0"}))
    with pytest.raises(BloomError, match="routing scheme"):
        part.load_filter(d)
    with pytest.raises(BloomError, match="would overwrite"):
        BloomFilter(BloomParams.for_capacity(99, 1e-6)).save(
            tmp_path / "x.bloom", extra={"params": 1}
        )


# -- webtext overlap, P = 1 and P = 4 --------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus(shared_file, tmp_path_factory):
    """Real prose: 200 train documents and 40 held out, in 3 corpus shards; a contaminated
    test set (10 copied training documents, 20 held-out ones) and the held-out set."""
    docs = prose_documents(
        shared_file("prose", "nltk_gutenberg_17books.tar.xz"), sentences_per_doc=8, limit=240
    )
    root = tmp_path_factory.mktemp("partitions")
    rows = write_prose_corpus(root / "corpus", [text for _, text in docs], n_train=200)
    train = [r["text"] for r in rows if r["split"] == "train"]
    held = [r["text"] for r in rows if r["split"] == "test"]
    (root / "contaminated.txt").write_text("\n\n".join(train[:20:2] + held[:20]) + "\n")
    (root / "heldout.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in held))
    (root / "own_train.txt").write_text("\n\n".join(held[:5]) + "\n")
    return root


def config_for(corpus, out: str, partitions: int) -> OverlapConfig:
    return OverlapConfig(
        corpus_dir=str(corpus / "corpus"),
        tests=[
            f"contaminated={corpus / 'contaminated.txt'}",
            f"heldout={corpus / 'heldout.jsonl'}",
        ],
        own_train=[f"heldout={corpus / 'own_train.txt'}"],
        out_dir=str(corpus / out),
        verify_queries=100_000,
        filter_partitions=partitions,
    )


@pytest.fixture(scope="module")
def runs(corpus):
    return {p: run_overlap(config_for(corpus, f"out{p}", p), BEAM) for p in (1, 4)}


def test_p1_and_p4_give_identical_results(corpus, runs):
    one, four = corpus / "out1", corpus / "out4"
    assert format_table(runs[1]) == format_table(runs[4])
    assert [r.summary() for r in runs[1]] == [r.summary() for r in runs[4]]
    for name in ("table.txt",):
        assert (one / name).read_bytes() == (four / name).read_bytes()
    sets1, sets4 = (json.loads((d / "sets.json").read_text()) for d in (one, four))
    assert sets1["sets"] == sets4["sets"]
    dirty = {(s["reference"], s["test_set"]): s for s in sets4["sets"]}
    assert 30 < dirty[("WebText train", "contaminated")]["percent_ngrams_found"] < 40
    rows1, rows4 = (
        shards.read_rows(str(d / "documents"), schemas.OVERLAP_DOCS) for d in (one, four)
    )
    assert rows1 == rows4
    ref1, ref4 = sets1["reference_filter"], sets4["reference_filter"]
    assert "partitions" not in ref1  # P = 1: sets.json as it always was
    assert ref4["partitions"] == 4 and ref4["routing"] == part.ROUTING_SCHEME
    assert ref4["split_counts"] == ref1["split_counts"]
    assert ref4["items_inserted"] == ref1["items_inserted"] == ref1["split_counts"]["ngrams"]
    assert ref4["num_hashes"] == ref1["num_hashes"]
    assert abs(ref4["num_bits"] / ref1["num_bits"] - 1) < 1e-3  # ~m bits in all
    assert abs(ref4["estimated_distinct_8grams"] / ref1["estimated_distinct_8grams"] - 1) < 0.01
    v1, v4 = (json.loads((d / "verify.json").read_text()) for d in (one, four))
    assert v1["false_positives"] == v4["false_positives"] == 0


def test_output_layouts(corpus, runs):
    one, four = corpus / "out1" / "filters", corpus / "out4" / "filters"
    assert sorted(p.name for p in one.iterdir()) == ["reference.bloom", "reference.json"]
    assert "filter_partitions" not in (corpus / "out1" / "_job.json").read_text()
    assert sorted(p.name for p in four.iterdir()) == [
        "manifest.json",
        *(f"part-{i:05d}-of-00004.bloom" for i in range(4)),
        "reference.json",
    ]
    manifest = json.loads((four / "manifest.json").read_text())
    assert manifest["partitions"] == 4 and manifest["routing"] == part.ROUTING_SCHEME
    loaded = part.load_filter(four, mmap=True)
    plain = part.load_filter(one, mmap=True)
    assert all(p.items_inserted > 0 for p in loaded.parts)
    assert part.find_reference_filter(four) == str(four / "manifest.json")
    assert part.find_reference_filter(one) == str(one / "reference.bloom")
    # eval/memorization's share of a text's 8-grams found: the same from either filter.
    words = textmod.word_hashes((corpus / "contaminated.txt").read_text())
    assert mem.ngram_share(loaded, words) == mem.ngram_share(plain, words)
    assert mem.ngram_share(loaded, words)[1] > 0


def test_resume_keeps_finished_partitions(corpus, runs, tmp_path):
    """A run killed while partitions were being built: 0 and 1 finished, 2 never written, 3
    left truncated, nothing after the filter. The rerun keeps 0 and 1 untouched, rebuilds 2 and
    3 byte for byte, and gives the same results."""
    out = tmp_path / "resumed"
    shutil.copytree(corpus / "out4", out)
    filters = out / "filters"
    original = {i: (filters / part.partition_file_name(i, 4)).read_bytes() for i in range(4)}
    for name in ("_SUCCESS", "sets.json", "table.txt", "verify.json"):
        (out / name).unlink()
    shutil.rmtree(out / "documents")
    (filters / "manifest.json").unlink()
    (filters / "reference.json").unlink()
    (filters / part.partition_file_name(2, 4)).unlink()
    (filters / part.partition_file_name(3, 4)).write_bytes(original[3][: len(original[3]) // 2])
    (filters / "_tmp-0123-part-00002-of-00004.bloom").write_bytes(b"half a file")
    kept = {
        i: (filters / part.partition_file_name(i, 4)).stat() for i in (0, 1)
    }  # fmt: skip
    config = config_for(corpus, "unused", 4)
    config = OverlapConfig(**{**config.__dict__, "out_dir": str(out)})
    results = run_overlap(config, BEAM)
    for i, before in kept.items():
        after = (filters / part.partition_file_name(i, 4)).stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    for i in range(4):
        assert (filters / part.partition_file_name(i, 4)).read_bytes() == original[i]
    assert not list(filters.glob("_tmp-*"))
    assert format_table(results) == format_table(runs[4])
    assert (out / "sets.json").read_bytes() == (corpus / "out4" / "sets.json").read_bytes()


def test_cli_partitions_verify_and_errors(corpus, runs, tmp_path, capsys):
    four = corpus / "out4" / "filters"
    assert cli.main(["overlap-verify", str(four), "--queries", "20000"]) == 0
    printed = capsys.readouterr().out
    assert "in 4 partitions of" in printed and "queried 20,000 random 8-grams" in printed
    assert cli.main(["overlap-verify", str(four / "manifest.json"), "--queries", "1000"]) == 0
    capsys.readouterr()
    broken = tmp_path / "filters"
    shutil.copytree(four, broken)
    (broken / "part-00001-of-00004.bloom").unlink()
    assert cli.main(["overlap-verify", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "part-00001-of-00004.bloom: partition 1 of 4 is missing" in err
    rc = cli.main(
        [
            "overlap",
            str(corpus / "corpus"),
            "--test",
            f"h={corpus / 'heldout.jsonl'}",
            "--out",
            str(tmp_path / "o"),
            "--filter-partitions",
            "3",
            *BEAM,
        ]
    )
    assert rc == 2
    assert "power of two" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before claiming the output directory
    rc = cli.main(
        [
            "overlap",
            str(corpus / "corpus"),
            "--test",
            f"contaminated={corpus / 'contaminated.txt'}",
            "--out",
            str(tmp_path / "o2"),
            "--filter-partitions",
            "2",
            "--verify-queries",
            "10000",
            *BEAM,
        ]
    )
    assert rc == 0
    assert "WebText train" in capsys.readouterr().out
    assert (tmp_path / "o2" / "filters" / "part-00001-of-00002.bloom").is_file()


def test_double_hashing_floor_shows_at_small_partitions():
    """The extra false positives of double hashing (neighbours with b' = +-b on the same line)
    are measurable when a filter is tiny: observed hits agree with fill^k plus the floor, and
    are far above fill^k alone. With a large m the floor vanishes."""
    n, p = 500, 1e-10  # m = 24k bits: fill^k predicts 3e-4 hits in 3M queries, the floor ~15
    pb = part.PartitionedBloom.empty(n, p, 1)
    pb.add_hashes(random_items(n, 21))
    queries = 3_000_000
    hits = int(pb.contains_hashes(random_items(queries, 22)).sum())
    fill = pb.fill_ratio()
    floor = part.double_hashing_floor(pb.parts[0].params, fill) * n / pb.params.expected_items
    expected = (pb.estimated_fp_rate() + floor) * queries
    assert abs(hits - expected) <= 4 * math.sqrt(expected) + 1, (hits, expected)
    assert hits >= 5 > 1000 * pb.estimated_fp_rate() * queries
    assert part.double_hashing_floor(BloomParams.for_capacity(8 * 10**9 // 64, 1e-8)) < 1e-10


def test_rerun_with_every_partition_built_runs_no_pipeline(corpus, runs, tmp_path):
    """Killed after the last partition and the counts were written (before the manifest): the
    rerun rebuilds nothing, not even the counts, and finishes with the same results."""
    out = tmp_path / "done"
    shutil.copytree(corpus / "out4", out)
    for name in ("_SUCCESS", "sets.json", "table.txt"):
        (out / name).unlink()
    (out / "filters" / "manifest.json").unlink()
    before = {p.name: p.stat().st_mtime_ns for p in (out / "filters").iterdir()}
    config = OverlapConfig(**{**config_for(corpus, "unused", 4).__dict__, "out_dir": str(out)})
    results = run_overlap(config, BEAM)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "filters").iterdir()}
    assert {k: after[k] for k in before} == before
    assert "manifest.json" in after
    assert format_table(results) == format_table(runs[4])
