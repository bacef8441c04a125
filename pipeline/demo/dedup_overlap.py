"""The demo's dedup + overlap step: dedup root/docs into root/corpus + root/dups, then measure
the overlap of the train split with (a) the held-out val and test splits and (b) a test file
that copies some training paragraphs next to held-out ones, into root/overlap. Both test sets
are written to root/overlap_input, where the eval + report step finds them. Both also hold a few
documents written apart from the demo's pages (``data.unseen_documents``) that share no 8-gram with the corpus, so every
overlap bucket of the report has examples."""

from __future__ import annotations

import json
from pathlib import Path

from beam_jobs.dedup_job import DedupConfig, DedupJob, run_dedup
from beam_jobs.overlap_job import OverlapConfig, run_overlap
from dedup.ngram import overlap, overlap_dir
from pipeline.demo.data import unseen_documents
from pipeline.io import schemas, shards


def dedup_overlap_step(root: Path, beam_args: list[str]) -> None:
    """root/docs -> root/corpus + root/dups, then root/corpus -> root/overlap."""
    config = DedupConfig(
        docs_dir=str(root / "docs"),
        out_dir=str(root / "corpus"),
        dups_dir=str(root / "dups"),
        val_fraction=0.1,
        test_fraction=0.1,
    )
    run_dedup(config, beam_args)
    print(DedupJob(config).summary(prefix="[demo] "))
    overlap_step(root, beam_args)


def overlap_step(root: Path, beam_args: list[str]) -> None:
    """The train split of root/corpus against (a) its held-out val and test splits and (b) a
    test file that copies some training paragraphs next to held-out ones."""
    corpus = shards.read_rows(str(root / "corpus"), schemas.CORPUS)
    train = sorted((r for r in corpus if r["split"] == "train"), key=lambda r: r["doc_id"])
    held = sorted((r for r in corpus if r["split"] != "train"), key=lambda r: r["doc_id"])
    if not train:
        print("[demo] overlap skipped: the corpus has no training documents")
        return
    inputs = root / "overlap_input"
    inputs.mkdir(parents=True, exist_ok=True)
    tests = []
    unseen = unseen_documents()  # no 8-gram of these is in the corpus: the "none" bucket
    if held:
        with open(inputs / "heldout.jsonl", "w", encoding="utf-8") as f:
            for text in [r["text"] for r in held] + unseen:
                f.write(json.dumps({"text": text}) + "\n")
        tests.append(f"heldout:jsonl={inputs / 'heldout.jsonl'}")
    else:
        print("[demo] overlap: the corpus has no val/test documents; only the copied test set")
    # Contaminated test set: the first paragraph of every other training document (copied),
    # then the held-out documents' paragraphs and the unseen ones', as plain text paragraphs.
    copied = [r["text"].split("\n\n")[0] for r in train[::2]]
    clean = [r["text"].split("\n\n")[0] for r in held] + [t.split("\n\n")[0] for t in unseen]
    (inputs / "contaminated.txt").write_text("\n\n".join(copied + clean) + "\n", encoding="utf-8")
    tests.append(f"contaminated:text={inputs / 'contaminated.txt'}")
    config = OverlapConfig(
        corpus_dir=str(root / "corpus"),
        tests=tests,
        out_dir=str(root / "overlap"),
        verify_queries=100_000,
    )
    results = run_overlap(config, beam_args, overwrite=True)
    print(
        f"[demo] overlap -> {config.out_dir} ({len(copied)} copied training paragraphs and "
        f"{len(clean)} held-out ones in contaminated.txt, {len(unseen)} of them written apart, "
        "sharing no 8-gram with the corpus)"
    )
    print(overlap.format_table(results))
    verify = overlap_dir.read_verification(config.out_dir)
    assert verify is not None  # verify_queries > 0
    print(
        f"[demo] filter check: {verify.false_positives} false positives in "
        f"{verify.queries:,} random 8-grams (theory {verify.rate_from_fill:.2g})"
    )
