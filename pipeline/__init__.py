"""Plain-Python logic of WebText corpus building: Reddit records, URL rules, shard IO.

Nothing in this package imports Apache Beam; the Beam jobs in ``beam_jobs`` are thin
wrappers around these functions so the same logic is testable without a runner.
"""

__version__ = "0.1.0"
