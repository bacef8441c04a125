"""Contamination measurement, not de-duplication: the 8-gram Bloom filter (one file or
partitioned by hash range), its compiled kernels, the overlap of test sets with a corpus split,
and the layout of `webtext overlap`'s output directory (overlap_dir)."""
