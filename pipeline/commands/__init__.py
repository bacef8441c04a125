"""Subcommands of ``webtext``: one module each, registered in pipeline/cli.py."""

BEAM_EPILOG = (
    "Any option not listed above is passed to Apache Beam (e.g. --runner, "
    "--direct_num_workers, --direct_running_mode, Dataflow/Flink/Spark options)."
)
