"""The compact dedup job makes the same decisions as the pure functions of dedup/ applied the way
the job applied them when it shuffled whole rows (one row per id by (text, url, final_url),
exact groups, LSH buckets verified at the threshold, clusters, members following their
representative); its filter pass writes every input row once (corpus/ or dups/), keeps
finished shards on a resume, and names a damaged input shard in one line."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from synthetic import edit_copy, synthetic_docs_rows, write_docs_dir

from beam_jobs.dedup_job import DedupConfig, run_dedup
from dedup import near
from dedup.minhash import MinHashParams
from dedup.split import assign_split
from pipeline.io import schemas, shards
from tests.test_shard_integrity import _flip_data_page

ARGS = ["--direct_num_workers=1"]


def reference_decisions(rows: list[dict], params: MinHashParams, max_neighbours: int = 64):
    """doc_id -> (keeper_id, keeper_url, similarity, reason) for every removed document, and
    the ids kept, computed in memory by the pure functions in the old job's order."""
    by_id: dict[str, list[dict]] = {}
    for r in rows:
        by_id.setdefault(r["doc_id"], []).append(r)
    signer = near.Signer(params)
    prints = []
    for doc_id, group in by_id.items():
        row = min(group, key=lambda r: (r["text"], r["url"], r["final_url"]))
        fp = near.fingerprint(
            doc_id, row["url"], row["text"], row["max_score"], row["first_seen_utc"], signer
        )
        if fp is not None:
            prints.append(fp)
    groups: dict[str, list[near.Fingerprint]] = {}
    for fp in prints:
        groups.setdefault(fp.exact_key, []).append(fp)
    reps, members = [], {}
    for group in groups.values():
        rep, others = near.exact_group(group)
        reps.append(rep)
        members[rep.doc_id] = (rep, [o.doc_id for o in others])
    buckets: dict[bytes, list[near.Fingerprint]] = {}
    for rep in reps:
        for key, fp in near.band_entries(rep, params):
            buckets.setdefault(key, []).append(fp)
    edges = {}
    for bucket in buckets.values():
        found, _ = near.verify_bucket(bucket, params.threshold, max_neighbours)
        for a, b, sim in found:
            edges[(a.doc_id, b.doc_id)] = (a, b, sim)
    removals = {r.doc_id: r for r in near.resolve_near(list(edges.values()))}
    for rep_id, (rep, others) in members.items():
        for r in near.resolve_exact_members(rep_id, rep.url, others, removals.get(rep_id)):
            removals[r.doc_id] = r
    decided = {d: (r.keeper_id, r.keeper_url, r.similarity, r.reason) for d, r in removals.items()}
    kept = {fp.doc_id for fp in prints} - set(decided)
    return decided, kept


@pytest.fixture(scope="module")
def corpus(shared_file, tmp_path_factory):
    """600 documents of real prose with planted exact copies, near copies, repeated ids, and
    90 near copies of one document (a bucket larger than max_neighbours + 1)."""
    rows = synthetic_docs_rows(
        shared_file("prose", "nltk_gutenberg_17books.tar.xz"),
        600,
        seed=5,
        exact_fraction=0.05,
        near_fraction=0.05,
        duplicate_id_fraction=0.01,
    )
    rng = random.Random(11)
    base = rows[0]
    for i in range(90):
        copy = dict(base)
        copy["doc_id"] = f"crowd{i:03d}"
        copy["text"] = edit_copy(base["text"], rows[1]["text"], rng, edits=1)
        copy["max_score"] = 3 + i
        rows.append(copy)
    rows.append(dict(rows[0], doc_id="empty0", text=" ... !!! "))
    root = tmp_path_factory.mktemp("filter")
    write_docs_dir(root / "docs", rows, num_shards=4)
    config = DedupConfig(
        docs_dir=str(root / "docs"),
        out_dir=str(root / "corpus"),
        dups_dir=str(root / "dups"),
    )
    assert run_dedup(config, ARGS) == "ran"
    return config, rows


def test_decisions_match_the_pure_functions(corpus):
    config, rows = corpus
    decided, kept = reference_decisions(rows, config.minhash, config.max_bucket_neighbours)
    reasons = {reason for *_, reason in decided.values()}
    assert reasons == {"exact", "near"}
    dups = shards.read_rows(config.dups_dir, schemas.DUPS)
    got = {
        d["doc_id"]: (d["keeper_id"], d["keeper_url"], d["similarity"], d["reason"]) for d in dups
    }
    assert got == decided
    assert len(dups) == len(got)  # each removed document once
    corpus_rows = shards.read_rows(config.out_dir, schemas.CORPUS)
    assert sorted(r["doc_id"] for r in corpus_rows) == sorted(kept)
    for r in corpus_rows:
        assert r["split"] == assign_split(r["doc_id"])
    stats = shards.read_stats(config.out_dir)
    assert stats["records_in"] == len(rows)
    assert stats["dropped"]["duplicate_doc_id"] == len(rows) - len({r["doc_id"] for r in rows})
    assert stats["dropped"]["empty_text"] == 1


def test_kept_rows_are_the_input_rows(corpus):
    """Every column of a kept document is its input row's (the one row kept for its id)."""
    config, rows = corpus
    by_id: dict[str, list[dict]] = {}
    for r in rows:
        by_id.setdefault(r["doc_id"], []).append(r)
    for out in shards.read_rows(config.out_dir, schemas.CORPUS):
        chosen = min(by_id[out["doc_id"]], key=lambda r: (r["text"], r["url"], r["final_url"]))
        assert {k: out[k] for k in schemas.DOCS.names} == {k: chosen[k] for k in schemas.DOCS.names}


def test_resume_keeps_finished_shards(corpus, tmp_path):
    import shutil

    config, _ = corpus
    out, dups = tmp_path / "corpus", tmp_path / "dups"
    shutil.copytree(config.out_dir, out)
    shutil.copytree(config.dups_dir, dups)
    from dataclasses import replace

    copy = replace(config, out_dir=str(out), dups_dir=str(dups))
    before = {p: Path(p).read_bytes() for d in (out, dups) for p in shards.list_shards(str(d))}
    lost = [shards.list_shards(str(out))[2], shards.list_shards(str(dups))[1]]
    for p in lost:
        Path(p).unlink()
    (out / "_SUCCESS").unlink()
    (dups / "_SUCCESS").unlink()
    (out / "_tmp-0123-part-00002-of-00004.parquet").write_bytes(b"half a shard")  # a killed writer
    stamps = {p: Path(p).stat().st_mtime_ns for p in before if p not in lost}
    assert run_dedup(copy, ARGS) == "ran"
    after = {p: Path(p).read_bytes() for d in (out, dups) for p in shards.list_shards(str(d))}
    assert after == before  # the lost shards rewritten identically, nothing else
    assert {p: Path(p).stat().st_mtime_ns for p in stamps} == stamps  # finished ones untouched
    assert not list(out.glob("_tmp-*"))
    assert (
        shards.read_stats(str(out))["records_out"]
        == shards.read_stats(config.out_dir)["records_out"]
    )


def test_damaged_input_shard_is_named_in_one_line(corpus, tmp_path):
    import shutil

    config, _ = corpus
    docs = Path(shutil.copytree(config.docs_dir, tmp_path / "docs"))
    name = "part-00001-of-00004.parquet"
    _flip_data_page(docs / name, "text")
    broken = DedupConfig(str(docs), str(tmp_path / "c"), str(tmp_path / "d"))
    with pytest.raises(shards.ShardError) as info:
        run_dedup(broken, ARGS)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"shard {name} of {docs} is damaged")
    assert not (tmp_path / "c" / "_SUCCESS").exists()
