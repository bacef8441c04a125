"""The stage contract: what every Beam stage job (links, fetch, extract, dedup, tokenize,
overlap) does around its own transforms, in one place.

A job is a ``StageJob`` subclass. It supplies its command, its output(s) (``StageOutput``:
directory, stage name, schema, shard count), its parameters (the config's ``params()``), its
input and ``expand``, which builds its PCollections. ``StageJob.run`` does the rest, in order:

0. configure Beam's FileSystems from the user's Beam options (``configure_filesystems``),
   so Beam and pyarrow (pipeline.io.object_store) reach s3:// with the same settings, and
   check each output's bucket exists and takes writes (``object_store.check_writable``);
1. check the input before any output is touched: the input stage directory's shards against
   its schema and its _stats.json record (``check_stage_input``), then the job's own ``check``;
2. fingerprint the inputs (``fingerprint_inputs``: files and stage directories alike);
3. lock every output directory for the whole run (``pipeline.io.locks.output_lock``);
4. claim them (``shards.prepare_output``): already complete for this job -> nothing to do;
   an unfinished run of it -> resume, after removing what killed writers left behind;
5. an input stage that holds 0 records -> ``on_empty_input``: by default every output
   finished empty, one line saying why;
6. ``produce``: by default one Beam pipeline (``beam_pipeline``: the user's Beam options,
   under ``shard_errors_in_one_line``) in which ``expand`` gives each output's
   ``{"rows", "stats", "totals"}``, written by ``WriteStageOutput`` (shards, then _stats.json,
   then _SUCCESS). A job whose output is not Parquet shards (overlap: Bloom filters, then
   results computed in plain Python) overrides ``produce`` and runs its pipelines through
   ``beam_pipeline``; its ``StageOutput`` then has no schema.

``summary`` is the one terminal summary of a finished stage: its records in/out/dropped table
plus the lines the job adds (``summary_lines``), printed by the command and by the demo.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from beam_jobs.runners import check_runner
from beam_jobs.shard_read import check_stage_input, empty_input_message, shard_errors_in_one_line
from beam_jobs.stage_io import WriteStageOutput, fingerprint_inputs, finish_empty
from pipeline.io import object_store, shards
from pipeline.io.locks import output_lock
from pipeline.io.stats import StageStats, format_stats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageOutput:
    """One directory a stage writes."""

    out_dir: str
    stage: str  # its name in _job.json / _stats.json: the noun (pipeline.io.stage_names)
    # Its shards' schema and count, for the default ``produce`` (WriteStageOutput); None for
    # a directory the job's own ``produce`` writes otherwise (overlap/).
    schema: pa.Schema | None = None
    num_shards: int = 1
    # Subdirectories whose temporary files a resumed run removes too (tokens/_tokenizer/).
    extra_dirs: tuple[str, ...] = ()
    # _stats.json figures of an empty run beside the zero counts (dups/: removed per reason).
    empty_stats: dict[str, Any] | None = None


def configure_filesystems(beam_args: list[str] | None) -> None:
    """Give Beam's FileSystems the user's Beam options before any path is touched on the
    driver (Beam does it itself only when a pipeline is built, and on each worker); the
    foundation's pyarrow filesystems take their S3 settings from them
    (``pipeline.io.object_store.s3_settings``)."""
    FileSystems.set_options(PipelineOptions(beam_args or []))


@contextmanager
def beam_pipeline(beam_args: list[str] | None = None) -> Iterator[beam.Pipeline]:
    """A Beam pipeline with the user's Beam options, run when the block ends; a shard's
    error in it is re-raised as one line (``shard_errors_in_one_line``)."""
    options = PipelineOptions(beam_args or [])
    check_runner(options)  # a Flink/Spark job-server jar missing or of another Beam: one line
    with shard_errors_in_one_line(), beam.Pipeline(options=options) as p:
        yield p


class StageJob:
    """One run of one stage on one config; see the module docstring for what ``run`` does."""

    command: ClassVar[str]  # `webtext COMMAND` runs it; titles its summary
    input_name: ClassVar[str | None] = None  # the stage it reads ("pages"), if it reads one
    input_schema: ClassVar[pa.Schema | None] = None

    def __init__(self, config: Any) -> None:
        self.config = config

    # ---- supplied by each job ----

    def outputs(self) -> list[StageOutput]:
        """The directories it writes (every job defines it)."""
        raise TypeError(f"{type(self).__name__} does not say which directories it writes")

    def input_dir(self) -> str | None:
        """The stage directory it reads (checked, fingerprinted by its shards), if any."""
        return None

    def params(self) -> dict[str, Any]:
        return self.config.params()

    def expand(self, p: beam.Pipeline, inputs: list[str]) -> dict[str, dict[str, Any]]:
        """``inputs`` (from ``read_inputs``) -> for each output's stage name, the
        ``{"rows": ..., "stats": ..., "totals": ...}`` WriteStageOutput takes. Only the default
        ``produce`` calls it: a job that writes its output otherwise (overlap) needs none."""
        raise TypeError(f"{type(self).__name__} defines neither expand nor its own produce")

    # ---- hooks with a default ----

    def read_inputs(self) -> list[str]:
        """The elements the pipeline starts from: the input stage's shard files, checked."""
        directory = self.input_dir()
        if directory is None or self.input_schema is None or self.input_name is None:
            return []
        object_store.check_bucket_exists(directory)
        return check_stage_input(directory, self.input_schema, self.input_name)

    def fingerprint(self, inputs: list[str]) -> list[str]:
        """The inputs as _job.json records them."""
        directory = self.input_dir()
        return fingerprint_inputs([directory] if directory is not None else inputs)

    def check(self) -> None:
        """Job-specific checks, after the input's and before any output is touched."""

    def claim(self, fingerprint: list[str], overwrite: bool) -> str:
        """Claim every output (its lock held): "complete" when all are finished for this job,
        else "resume" (temporaries removed) or "fresh"."""
        outs = self.outputs()
        states = [
            shards.prepare_output(
                o.out_dir, shards.JobSpec(o.stage, self.params(), fingerprint), overwrite=overwrite
            )
            for o in outs
        ]
        dirs = " and ".join(o.out_dir for o in outs)
        if all(state == "complete" for state in states):
            verb = "is" if len(outs) == 1 else "are"
            log.info("%s %s already complete for these inputs; nothing to do", dirs, verb)
            return "complete"
        if all(state == "fresh" for state in states):
            return "fresh"
        removed = sum(shards.clean_temporaries(d) for o in outs for d in (o.out_dir, *o.extra_dirs))
        log.info("resuming the unfinished run in %s (%d temporary files removed)", dirs, removed)
        return "resume"

    def on_complete(self) -> None:
        """Called when the outputs were already complete (nothing ran)."""

    def on_empty_input(self, directory: str, outs: list[StageOutput]) -> bool:
        """The input stage holds 0 records: log why, finish every output empty and return
        True (nothing more to do). A job that runs on an empty input anyway logs and returns
        False."""
        log.info("%s", empty_input_message(directory, self.input_name or "", outs[0].stage))
        for out in outs:
            shards.clean_temporaries(out.out_dir)
            finish_empty(out.out_dir, out.stage, out.empty_stats)
        return True

    def before_pipeline(self, state: str) -> None:
        """After the claim, before the pipeline (tokenize prepares its tokenizer here)."""

    def produce(self, inputs: list[str], beam_args: list[str] | None) -> None:
        """Write every output: one pipeline of ``expand``, each output's PCollections
        written by ``WriteStageOutput``."""
        outs = self.outputs()
        with beam_pipeline(beam_args) as p:
            results = self.expand(p, inputs)
            for out in outs:
                if out.schema is None:
                    raise TypeError(f"{out.out_dir}: a StageOutput without a schema")
                label = "Write" if len(outs) == 1 else f"Write{out.stage.capitalize()}"
                _ = results[out.stage] | label >> WriteStageOutput(
                    out.out_dir, out.schema, out.num_shards, out.stage
                )

    def after_pipeline(self) -> None:
        """After the pipeline wrote every output."""

    def summary_lines(self, data: dict[str, Any]) -> list[str]:
        """Lines the summary adds below the records table, from the output's _stats.json."""
        return []

    # ---- the contract ----

    def run(self, beam_args: list[str] | None = None, *, overwrite: bool = False) -> str:
        """Run the stage. Returns "complete" when it had already finished, else "ran"."""
        configure_filesystems(beam_args)
        # a Flink/Spark job-server jar missing or of another Beam: one line, before any work
        check_runner(PipelineOptions(beam_args or []))
        for out in self.outputs():  # a missing or read-only bucket: one line, before any work
            object_store.check_writable(out.out_dir)
        inputs = self.read_inputs()  # errors name the file and column before any output
        self.check()
        fingerprint = self.fingerprint(inputs)
        outs = self.outputs()
        with ExitStack() as locks:
            for out in outs:
                locks.enter_context(output_lock(out.out_dir, f"webtext {self.command}"))
            state = self.claim(fingerprint, overwrite)
            if state == "complete":
                self.on_complete()
                return "complete"
            directory = self.input_dir()
            if directory is not None and not inputs and self.on_empty_input(directory, outs):
                return "ran"
            self.before_pipeline(state)
            self.produce(inputs, beam_args)
            self.after_pipeline()
            return "ran"

    def summary(self, prefix: str = "") -> str:
        """The terminal summary of the finished output: 'links -> OUT: 12 in -> 10 out' with
        the drops and repairs by reason, then the job's own lines."""
        out_dir = self.outputs()[0].out_dir
        data = shards.read_stats(out_dir)
        title = f"{prefix}{self.command} -> {out_dir}"
        return "\n".join(
            [format_stats(StageStats.from_dict(data), title), *self.summary_lines(data)]
        )
