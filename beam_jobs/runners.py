"""The runner a user chose, checked before a stage's pipeline runs: a Flink or Spark job-server
jar that is missing, is not a jar, is the other runner's, or belongs to a Beam release this
project was not tested with fails in one line naming the jar needed and how to fetch it (a
``RunnerChoiceError``, a ``ValueError``: the command prints it and exits 2).

The portable Flink and Spark runners start their job server with ``java -jar JAR``. Which jar:
  * Beam's published ``beam-runners-flink-1.19-job-server-<beam>.jar`` /
    ``beam-runners-spark-3-job-server-<beam>.jar`` of the installed apache-beam, or
  * the jar ``.ci/job_servers.sh`` builds (``make job-servers``): Beam's runner and its
    dependencies fetched from Maven Central at ``JOB_SERVER_BEAM_VERSION`` and a small jar
    naming them. tests/test_engines.py runs every stage through it with the installed SDK.
A ``--job_endpoint`` names a job server the user started: nothing here to check.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions, StandardOptions

# The Beam release of the job servers .ci/job_servers.sh fetches (keep the two equal): the
# newest whose runner artifacts Maven Central serves here; tests/test_engines.py runs every
# stage on it with the installed SDK.
JOB_SERVER_BEAM_VERSION = "2.62.0"
FETCH_COMMAND = ".ci/job_servers.sh"  # `make job-servers` runs it too


class RunnerChoiceError(ValueError):
    """The chosen runner cannot start: one line saying what is needed."""


@dataclass(frozen=True)
class _Engine:
    name: str  # flink / spark: .ci/job_servers.sh's argument
    runner: str  # the --runner value
    jar_option: str  # the Beam option naming its job-server jar
    artifact: str  # the published job-server artifact, without its version


ENGINES = (
    _Engine("flink", "FlinkRunner", "flink_job_server_jar", "beam-runners-flink-1.19-job-server"),
    _Engine("spark", "SparkRunner", "spark_job_server_jar", "beam-runners-spark-3-job-server"),
)
_RUNNER_JAR = re.compile(r"beam-runners-(flink|spark)[-.\w]*?-(\d+\.\d+\.\d+)(?:-SNAPSHOT)?\.jar$")


def accepted_versions() -> tuple[str, ...]:
    """Beam releases whose job servers run this SDK's pipelines: its own and the tested one."""
    return tuple(dict.fromkeys((beam.__version__, JOB_SERVER_BEAM_VERSION)))


def needed(engine: _Engine) -> str:
    """Which jar to pass and how to get it, for an error message."""
    return (
        f"pass --{engine.jar_option}=JAR with {engine.artifact}-{beam.__version__}.jar or the "
        f"Beam {JOB_SERVER_BEAM_VERSION} job server that `{FETCH_COMMAND} {engine.name}` "
        "fetches (it prints the path)"
    )


def jar_identity(path: str) -> tuple[str | None, str | None]:
    """(runner "flink"/"spark", Beam version) of a job-server jar, None where it does not say.
    Read from the manifest .ci/job_servers.sh writes, else from the Maven metadata inside the
    jar or the jar's name (Beam's published jars)."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        manifest = z.read("META-INF/MANIFEST.MF").decode("utf-8", "replace")
        # Manifest lines wrap at 72 bytes; a continuation line starts with one space.
        fields = dict(
            line.split(": ", 1)
            for line in manifest.replace("\r\n", "\n").replace("\n ", "").splitlines()
            if ": " in line
        )
        if "Webtext-Beam-Version" in fields:
            return fields.get("Webtext-Runner"), fields["Webtext-Beam-Version"]
        for name in names:
            found = re.fullmatch(
                r"META-INF/maven/org\.apache\.beam/beam-runners-(flink|spark)[^/]*/pom\.properties",
                name,
            )
            if found:
                props = z.read(name).decode("utf-8", "replace")
                version = re.search(r"^version=(\S+)", props, re.M)
                return found.group(1), version.group(1) if version else None
    by_name = _RUNNER_JAR.search(Path(path).name)
    return (by_name.group(1), by_name.group(2)) if by_name else (None, None)


def check_job_server_jar(engine: _Engine, jar: str) -> None:
    """Raise RunnerChoiceError unless ``jar`` is a job server of ``engine`` from an accepted
    Beam release."""
    if re.match(r"^[a-z][a-z0-9+.-]*://", jar):
        return  # a URL: Beam downloads it; nothing local to read
    what = f"--{engine.jar_option} {jar}"
    if not Path(jar).is_file():
        raise RunnerChoiceError(f"{what}: no such file; {needed(engine)}")
    try:
        runner, version = jar_identity(jar)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise RunnerChoiceError(f"{what}: not a job-server jar ({exc}); {needed(engine)}") from None
    if runner is not None and runner != engine.name:
        raise RunnerChoiceError(
            f"{what}: a {runner} job server, not a {engine.name} one; {needed(engine)}"
        )
    if version is None:
        return  # a jar built by hand that does not say: let the job server speak
    base = version.removesuffix("-SNAPSHOT")
    if base not in accepted_versions():
        accepted = " or ".join(accepted_versions())
        raise RunnerChoiceError(
            f"{what}: a Beam {version} job server; this SDK (apache-beam {beam.__version__}) "
            f"runs on Beam {accepted} job servers; {needed(engine)}"
        )


def check_runner(options: PipelineOptions) -> None:
    """Check the runner ``options`` choose before a pipeline is built on them."""
    runner = options.view_as(StandardOptions).runner
    name = (runner if isinstance(runner, str) else type(runner).__name__ if runner else "") or ""
    name = name.rsplit(".", 1)[-1].lower()
    engine = next((e for e in ENGINES if name in (e.runner.lower(), e.name)), None)
    if engine is None or options.view_as(PortableOptions).job_endpoint:
        return
    jar = options.get_all_options(retain_unknown_options=True).get(engine.jar_option)
    if jar:
        check_job_server_jar(engine, jar)
