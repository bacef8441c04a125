"""One Apache Beam pipeline per stage: thin PTransforms over ``pipeline`` and ``dedup``.

Every job accepts Beam's own options (--runner, --direct_num_workers, Dataflow/Flink/Spark
options), so the same code runs on DirectRunner here and on a cluster runner unchanged.
"""
