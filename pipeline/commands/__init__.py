"""Subcommands of ``webtext``: one module each, registered in pipeline/cli.py."""

# The epilog of every command that runs a Beam job. pipeline/cli.py passes Beam's options on
# to exactly the commands with this epilog and refuses them (and any other unknown option)
# everywhere else, so --help and behaviour cannot disagree.
BEAM_EPILOG = (
    "Apache Beam's own options are accepted too (e.g. --runner, --direct_num_workers, "
    "--direct_running_mode, Dataflow/Flink/Spark options); any other option is refused."
)
