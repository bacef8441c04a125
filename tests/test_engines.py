"""Every corpus stage on real engines: Beam's portable FlinkRunner (an embedded ``[local]``
Flink cluster, parallelism 2) and SparkRunner (``local[2]``) write the same shards as the
DirectRunner, with SDK workers in the driver (LOOPBACK) and in separate processes
(``--environment_type=EXTERNAL`` against a worker pool this module starts), so nothing relies
on sharing the driver's memory or process.

Each stage reads the same input directory (a DirectRunner demo tree) on every runner, so one
stage failing on an engine fails its own tests only, with the runner's message. Each job server
starts once per runner (the first test that needs it), not once per stage. The jars come from
``.ci/job_servers.sh`` (cached under ~/.cache/webtext/job-servers); without them these tests
skip, saying how to fetch them, and fail in CI (WEBTEXT_REQUIRE_RUNNERS=1).

The fast tests at the bottom check the runner choice: a job-server jar missing, of the other
runner or of another Beam release stops a stage in one line before its pipeline starts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from beam_jobs.configs import (
    DedupConfig,
    ExtractJobConfig,
    FetchJobConfig,
    LinksConfig,
    OverlapConfig,
    TokenizeConfig,
)
from beam_jobs.dedup_job import run_dedup
from beam_jobs.extract_job import run_extract
from beam_jobs.fetch_job import run_fetch
from beam_jobs.links_job import run_links
from beam_jobs.overlap_job import run_overlap
from beam_jobs.runners import JOB_SERVER_BEAM_VERSION, RunnerChoiceError, check_runner
from beam_jobs.tokenize_job import run_tokenize
from pipeline.demo.data import write_demo_dump
from pipeline.demo.web import demo_resolve_rules, demo_web_app
from pipeline.fetch.client import FetchConfig
from pipeline.io import schemas
from pipeline.webserver import LoopbackServer

REPO = Path(__file__).resolve().parent.parent
JOB_SERVERS = REPO / ".ci" / "job_servers.sh"
JAVA_HEAP = "-Xmx2g"  # each job server JVM (Flink's embedded cluster or Spark's local[2])

# ---------------------------------------------------------------- the stages, as a user runs them

DIRECT = ["--direct_num_workers=1"]


def _links(src: Path, out: Path, beam_args: list[str]) -> list[str]:
    config = LinksConfig(inputs=[str(src / "input" / "RS_demo.zst")], out_dir=str(out / "links"))
    run_links(config, beam_args)
    return ["links"]


def _fetch(src: Path, out: Path, beam_args: list[str]) -> list[str]:
    with LoopbackServer(demo_web_app()) as server:
        fetch = FetchConfig(
            allow_private=True,
            resolve=demo_resolve_rules(server.port),
            host_delay_s=0.05,
            per_host=4,
            total_timeout_s=10.0,
            max_retries=1,
        )
        run_fetch(FetchJobConfig(str(src / "links"), str(out / "pages"), fetch=fetch), beam_args)
    return ["pages"]


def _extract(src: Path, out: Path, beam_args: list[str]) -> list[str]:
    run_extract(ExtractJobConfig(str(src / "pages"), str(out / "docs")), beam_args)
    return ["docs"]


def _dedup(src: Path, out: Path, beam_args: list[str]) -> list[str]:
    config = DedupConfig(
        docs_dir=str(src / "docs"),
        out_dir=str(out / "corpus"),
        dups_dir=str(out / "dups"),
        val_fraction=0.1,
        test_fraction=0.1,
    )
    run_dedup(config, beam_args)
    return ["corpus", "dups"]


def _tokenize(src: Path, out: Path, beam_args: list[str]) -> list[str]:
    config = TokenizeConfig(
        corpus_dir=str(src / "corpus"), out_dir=str(out / "tokens"), vocab_size=2000
    )
    run_tokenize(config, beam_args)
    return ["tokens"]


def _overlap(src: Path, out: Path, beam_args: list[str]) -> list[str]:
    tests = [
        f"heldout:jsonl={src / 'overlap_input' / 'heldout.jsonl'}",
        f"contaminated:text={src / 'overlap_input' / 'contaminated.txt'}",
    ]
    config = OverlapConfig(
        corpus_dir=str(src / "corpus"),
        tests=tests,
        out_dir=str(out / "overlap"),
        verify_queries=10_000,
        filter_partitions=2,  # the partitioned build: a Beam shuffle of n-gram hashes
    )
    run_overlap(config, beam_args)
    return ["overlap"]


STAGES: dict[str, Callable[[Path, Path, list[str]], list[str]]] = {
    "links": _links,
    "fetch": _fetch,
    "extract": _extract,
    "dedup": _dedup,
    "tokenize": _tokenize,
    "overlap": _overlap,
}

# What a live fetch records about when and how long: differs between any two runs.
_VOLATILE_PAGE_FIELDS = ("elapsed_ms", "fetched_utc")


def _pages_rows(path: Path) -> list[dict]:
    rows = pq.read_table(path, schema=schemas.PAGES).to_pylist()
    for row in rows:
        for field in _VOLATILE_PAGE_FIELDS:
            row[field] = None
        row["headers"] = [(k, v) for k, v in row["headers"] if k != "date"]
    return rows


# Per-run bookkeeping, not output: _job.json records the run's Beam options; fetch's ledger
# (_fetched/) holds batches under random names, whose rows the shards hold.
_BOOKKEEPING = frozenset({"_job.json", "_fetched"})


def _contents(directory: Path) -> dict[str, object]:
    """What a stage directory holds that a user reads: every file's bytes (pages: its rows with
    the fetch times masked), bookkeeping aside."""
    found: dict[str, object] = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory)
        name = str(relative)
        if relative.parts[0] in _BOOKKEEPING or path.name.startswith("."):
            continue
        if directory.name == "pages" and path.name.startswith("part-"):
            found[name] = _pages_rows(path)
        elif path.name == "_stats.json":
            stats = json.loads(path.read_text(encoding="utf-8"))
            # error_samples compared as written: the smallest messages, whatever the bundles
            if directory.name == "pages":  # the shards' sizes and checksums follow their bytes
                stats.pop("shard_files", None)
            found[name] = stats
        else:
            found[name] = path.read_bytes()
    return found


# -------------------------------------------------------------------------- the DirectRunner side


@pytest.fixture(scope="session")
def stage_inputs(demo_root: Path) -> Path:
    """The demo tree (DirectRunner): every stage's input."""
    return demo_root


@pytest.fixture(scope="session")
def direct_outputs(stage_inputs: Path, tmp_path_factory) -> Callable[[str], Path]:
    """direct_outputs(stage) -> a directory holding that stage's DirectRunner output, written
    on first use from the same inputs the engines read."""
    root = tmp_path_factory.mktemp("direct")
    done: set[str] = set()

    def get(stage: str) -> Path:
        if stage not in done:
            STAGES[stage](stage_inputs, root, DIRECT)
            done.add(stage)
        return root

    return get


# ------------------------------------------------------------------------ job servers and workers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, what: str, log: Path, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited ({proc.returncode}): {_tail(log)}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    pytest.fail(f"{what} did not listen on port {port} within {limit:.0f} s: {_tail(log)}")


def _tail(log: Path, lines: int = 30) -> str:
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def _cached_jar(engine: str) -> Path | None:
    """The job-server jar .ci/job_servers.sh left in its cache, if it finished."""
    cache = Path(
        os.environ.get("WEBTEXT_JOB_SERVER_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        / "webtext"
        / "job-servers"
    )
    folder = cache / f"{engine}-{JOB_SERVER_BEAM_VERSION}"
    jars = sorted(folder.glob("*-job-server-*.jar"))
    return jars[0] if jars and (folder / ".complete").exists() else None


def job_server_jar(engine: str) -> Path:
    jar = _cached_jar(engine)
    if jar is not None:
        return jar
    message = (
        f"the {engine} job server is not fetched: run `{JOB_SERVERS.relative_to(REPO)} {engine}` "
        "(or `make job-servers`; Java 17 and Maven)"
    )
    if os.environ.get("WEBTEXT_REQUIRE_RUNNERS") == "1":
        pytest.fail(message + "; WEBTEXT_REQUIRE_RUNNERS=1 makes this an error")
    pytest.skip(message)


@dataclass(frozen=True)
class JobServer:
    engine: str
    port: int
    log: Path

    def beam_args(self) -> list[str]:
        runner = {"flink": "FlinkRunner", "spark": "SparkRunner"}[self.engine]
        args = [f"--runner={runner}", f"--job_endpoint=localhost:{self.port}"]
        if self.engine == "flink":
            args.append("--parallelism=2")
        return args


@pytest.fixture(scope="module", params=["flink", "spark"])
def job_server(request, tmp_path_factory) -> Iterator[JobServer]:
    """One job server per runner for the whole module: Flink with an embedded [local] cluster,
    Spark with local[2]. Its log is quoted when a stage fails."""
    engine = request.param
    jar = job_server_jar(engine)
    work = tmp_path_factory.mktemp(f"{engine}-job-server")
    port = _free_port()
    master = (
        ["--flink-master", "[local]"] if engine == "flink" else ["--spark-master-url", "local[2]"]
    )
    log = work / "job-server.log"
    command = ["java", JAVA_HEAP, "-jar", str(jar), *master, "--job-port", str(port)]
    command += ["--artifact-port", "0", "--expansion-port", "-1"]
    command += ["--artifacts-dir", str(work / "artifacts")]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=work)
    try:
        _wait_listening(port, proc, f"the {engine} job server", log, 120)
        yield JobServer(engine, port, log)
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def worker_pool(tmp_path_factory) -> Iterator[int]:
    """A Beam SDK worker pool in its own process (python -m ...worker_pool_main): each worker
    it starts is a process of its own, importing this repository's packages."""
    port = _free_port()
    log = tmp_path_factory.mktemp("worker-pool") / "worker-pool.log"
    # The pool starts each worker as `python -c ...`: this interpreter, found first on PATH.
    env = dict(
        os.environ,
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    )
    command = [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main"]
    command += ["--service_port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    try:
        _wait_listening(port, proc, "the SDK worker pool", log, 60)
        yield port
    finally:
        _stop(proc)


STAGE_LIMIT_S = 300  # a stage takes under a minute here; an engine waiting forever fails


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in this (the main) thread after ``seconds``: a job that waits forever
    (workers that never start, say) fails its test instead of hanging the run."""

    def expire(signum, frame) -> None:
        raise TimeoutError(f"the stage did not finish within {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _environment_args(environment: str, request) -> list[str]:
    if environment == "loopback":
        return ["--environment_type=LOOPBACK"]
    port = request.getfixturevalue("worker_pool")
    return ["--environment_type=EXTERNAL", f"--environment_config=localhost:{port}"]


# ----------------------------------------------------------------------------------- the tests


@pytest.mark.slow
@pytest.mark.parametrize("environment", ["loopback", "external"])
@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_on_engine_matches_the_direct_runner(
    job_server: JobServer,
    stage: str,
    environment: str,
    stage_inputs: Path,
    direct_outputs,
    tmp_path: Path,
    request,
) -> None:
    reference = direct_outputs(stage)
    beam_args = job_server.beam_args() + _environment_args(environment, request)
    try:
        with _time_limit(STAGE_LIMIT_S):
            outputs = STAGES[stage](stage_inputs, tmp_path, beam_args)
    except Exception as exc:  # the runner's own message, and the job server's last words
        pytest.fail(
            f"{stage} on {job_server.engine} ({environment}) failed: {type(exc).__name__}: "
            f"{exc}\n--- job server log (tail) ---\n{_tail(job_server.log)}"
        )
    for name in outputs:
        ours, theirs = _contents(tmp_path / name), _contents(reference / name)
        assert sorted(ours) == sorted(theirs), f"{name}/ holds other files than the DirectRunner's"
        for file in theirs:
            assert ours[file] == theirs[file], f"{name}/{file} differs from the DirectRunner's"


# --------------------------------------------------------------- choosing a runner (fast tests)


def _fake_jar(path: Path, manifest: str, extra: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", manifest)
        for name, text in (extra or {}).items():
            z.writestr(name, text)
    return path


def _links_with(tmp_path: Path, beam_args: list[str]) -> None:
    dump = write_demo_dump(tmp_path / "RS_demo.zst")
    run_links(LinksConfig(inputs=[str(dump)], out_dir=str(tmp_path / "links")), beam_args)


def test_a_missing_job_server_jar_stops_the_stage_in_one_line(tmp_path: Path) -> None:
    jar = tmp_path / "nowhere" / "flink.jar"
    with pytest.raises(RunnerChoiceError) as raised:
        _links_with(tmp_path, ["--runner=FlinkRunner", f"--flink_job_server_jar={jar}"])
    message = str(raised.value)
    assert "\n" not in message
    assert str(jar) in message and "no such file" in message
    assert "beam-runners-flink-1.19-job-server" in message and ".ci/job_servers.sh flink" in message
    assert not list((tmp_path / "links").glob("part-*"))  # nothing written


def test_a_job_server_of_another_beam_release_is_refused_naming_both(tmp_path: Path) -> None:
    jar = _fake_jar(
        tmp_path / "beam-runners-spark-3-job-server-2.50.0.jar",
        "Manifest-Version: 1.0\r\nMain-Class: x\r\n\r\n",
        {"META-INF/maven/org.apache.beam/beam-runners-spark-3-job-server/pom.properties": (
            "groupId=org.apache.beam\nversion=2.50.0\n"
        )},
    )  # fmt: skip
    with pytest.raises(RunnerChoiceError) as raised:
        _links_with(tmp_path, ["--runner=SparkRunner", f"--spark_job_server_jar={jar}"])
    message = str(raised.value)
    assert "\n" not in message
    assert "Beam 2.50.0 job server" in message and JOB_SERVER_BEAM_VERSION in message
    assert ".ci/job_servers.sh spark" in message


def test_the_other_runners_jar_and_a_non_jar_are_refused(tmp_path: Path) -> None:
    spark = _fake_jar(
        tmp_path / "js.jar",
        f"Manifest-Version: 1.0\r\nWebtext-Beam-Version: {JOB_SERVER_BEAM_VERSION}\r\n"
        "Webtext-Runner: spark\r\n\r\n",
    )
    from apache_beam.options.pipeline_options import PipelineOptions

    with pytest.raises(RunnerChoiceError, match="a spark job server, not a flink one"):
        check_runner(PipelineOptions(["--runner=FlinkRunner", f"--flink_job_server_jar={spark}"]))
    text = tmp_path / "notes.jar"
    text.write_text("not a zip")
    with pytest.raises(RunnerChoiceError, match="not a job-server jar"):
        check_runner(PipelineOptions(["--runner=FlinkRunner", f"--flink_job_server_jar={text}"]))
    # A job server the user started (--job_endpoint), the DirectRunner: nothing to check.
    check_runner(PipelineOptions(["--runner=FlinkRunner", "--job_endpoint=localhost:1"]))
    check_runner(PipelineOptions(["--flink_job_server_jar=/nowhere.jar"]))


def test_the_fetched_job_server_jars_pass_the_check() -> None:
    from apache_beam.options.pipeline_options import PipelineOptions

    for engine, runner in (("flink", "FlinkRunner"), ("spark", "SparkRunner")):
        jar = _cached_jar(engine)
        if jar is None:
            continue  # not fetched here; the slow tests say so
        check_runner(PipelineOptions([f"--runner={runner}", f"--{engine}_job_server_jar={jar}"]))
