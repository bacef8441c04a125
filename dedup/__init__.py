"""De-duplication and train/test overlap: normalisation, word hashing, MinHash + LSH banding,
clustering, the train/val/test split, and the 8-gram Bloom filter. Pure Python + numpy (no Beam):
beam_jobs/dedup_job.py and beam_jobs/overlap_job.py are thin wrappers around this package."""
