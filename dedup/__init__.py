"""De-duplication: normalisation, word hashing, MinHash + LSH banding, clustering and the
train/val/test split; contamination measurement (the 8-gram Bloom filter and the train/test
overlap) lives in dedup/ngram/. Pure Python + numpy (no Beam): beam_jobs/dedup_job.py and
beam_jobs/overlap_job.py are thin wrappers around this package."""
