"""One writer per output directory (pipeline.io.locks): real processes, real flock, real stages.

A second `webtext` run on a directory another process is writing is refused at once with one
line and exit 2, touching nothing; the first run finishes intact; a holder killed with -9 leaves
a lock file that blocks nobody. The object-store lease is exercised on the local file system."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from aiohttp import web

from pipeline.io import schemas, shards
from pipeline.io.locks import LOCK_FILE, OutputLocked, lease_lock, locked_message, output_lock
from pipeline.webserver import LoopbackServer
from tests.helpers import submission, write_dump, write_links

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
HOST = "www.slow.test"
HITS = web.AppKey("hits", Counter)
RELEASE = web.AppKey("release", asyncio.Event)

HOLD = """
import sys
from pipeline.io.locks import output_lock
with output_lock(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes stdin (or kills us)
"""


def webtext(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
        timeout=300,
    )


def start_webtext(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=ENV,
    )


def hold(directory: Path, what: str = "webtext links") -> subprocess.Popen[str]:
    """A helper process holding ``directory``'s lock through the real function."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(directory), what],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=ENV,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def wait_until(condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def dump(tmp_path) -> Path:
    posts = [submission(f"p{i}", f"https://site{i % 3}.org/page{i}", 10 + i) for i in range(12)]
    return write_dump(tmp_path / "RS_2019-01.zst", posts)


# ------------------------------------------------------------------- a second writer refused


def test_second_links_run_is_refused_while_a_process_holds_the_output(tmp_path, dump):
    out = tmp_path / "links"
    holder = hold(out)
    try:
        result = webtext("links", str(dump), "--out", str(out))
        assert result.returncode == 2, result.stderr
        errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
        assert len(errors) == 1 and "Traceback" not in result.stderr
        expected = f"{out} is being written by pid {holder.pid} on {socket.gethostname()} since "
        assert expected in errors[0]
        assert errors[0].endswith("UTC (webtext links); wait for it or stop it")
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # nothing else written
    finally:
        holder.stdin.close()
        holder.wait(30)
    # Released: the lock file is gone and the run goes ahead.
    assert not (out / LOCK_FILE).exists()
    assert webtext("links", str(dump), "--out", str(out)).returncode == 0
    assert (out / "_SUCCESS").exists() and not (out / LOCK_FILE).exists()


def test_a_holder_killed_with_sigkill_blocks_nobody(tmp_path, dump):
    out = tmp_path / "links"
    holder = hold(out)
    content = json.loads((out / LOCK_FILE).read_text())
    assert content["pid"] == holder.pid and content["what"] == "webtext links"
    assert content["host"] == socket.gethostname() and content["started"].endswith("UTC")
    holder.send_signal(signal.SIGKILL)
    holder.wait(30)
    assert (out / LOCK_FILE).exists()  # left behind by the killed holder: stale, harmless
    result = webtext("links", str(dump), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert shards.exists(str(out / "_SUCCESS"))
    assert len(shards.read_rows(str(out), schemas.LINKS)) == 12


def release_app() -> web.Application:
    """/page/X answers only once the test sets app[RELEASE]; hits are counted per path."""
    hits: Counter[str] = Counter()
    release = asyncio.Event()

    async def handle(request: web.Request) -> web.StreamResponse:
        hits[request.path] += 1
        await release.wait()
        body = f"<html><body>{'<p>Words about ' + request.path + ' to read.</p>' * 8}</body></html>"
        return web.Response(body=body.encode(), headers={"Content-Type": "text/html"})

    app = web.Application()
    app[HITS] = hits
    app[RELEASE] = release
    app.router.add_route("GET", "/{tail:.*}", handle)
    return app


def test_second_fetch_is_refused_and_sends_no_request_while_the_first_finishes(tmp_path):
    paths = [f"/page/{i}" for i in range(6)]
    write_links(tmp_path / "links", [f"http://{HOST}{p}" for p in paths])
    out = tmp_path / "pages"
    with LoopbackServer(release_app()) as server:
        hits: Counter[str] = server.app[HITS]
        args = [
            "fetch", str(tmp_path / "links"), "--out", str(out), "--allow-private",
            "--resolve", f"{HOST}:80:127.0.0.1:{server.port}", "--host-delay", "0",
            "--per-host", "8", "--retries", "0", "--num-shards", "2",
        ]  # fmt: skip
        first = start_webtext(*args)
        try:
            wait_until(lambda: sum(hits.values()) == len(paths), what="the first fetch")
            second = webtext(*args)
            assert second.returncode == 2, second.stderr
            line = f"{out} is being written by pid {first.pid} on {socket.gethostname()}"
            assert line in second.stderr and "(webtext fetch); wait for it" in second.stderr
            assert "Traceback" not in second.stderr
            assert sum(hits.values()) == len(paths)  # not one request from the second run
        finally:
            server._loop.call_soon_threadsafe(server.app[RELEASE].set)  # noqa: SLF001
            _, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
    assert hits == Counter(dict.fromkeys(paths, 1))
    rows = shards.read_rows(str(out), schemas.PAGES)
    assert sorted(r["url"].split(HOST)[1] for r in rows) == paths
    stats = shards.read_stats(str(out))
    assert stats["records_in"] == stats["records_out"] == len(paths)
    assert not (out / LOCK_FILE).exists()


COUNT = """
import sys, time
from pipeline.io.locks import OutputLocked, output_lock
directory, counter, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
done = 0
while done < rounds:
    try:
        with output_lock(directory, "counter"):
            value = int(open(counter).read())
            time.sleep(0.001)  # widen the window a second holder would need
            open(counter, "w").write(str(value + 1))
            done += 1
    except OutputLocked:
        time.sleep(0.0005)
"""


def test_exclusion_holds_under_contention_including_release_races(tmp_path):
    """Six processes increment a counter under the lock, taking and releasing it (the file is
    unlinked on release) as fast as they can: no increment is lost."""
    counter = tmp_path / "counter"
    counter.write_text("0")
    procs = [
        subprocess.Popen([sys.executable, "-c", COUNT, str(tmp_path / "d"), str(counter), "40"],
                         cwd=REPO, env=ENV)
        for _ in range(6)
    ]  # fmt: skip
    for proc in procs:
        assert proc.wait(120) == 0
    assert counter.read_text() == str(6 * 40)


# ---------------------------------------------------------------------- in-process behaviour


def test_reentrant_in_one_process_and_ignored_by_the_claim(tmp_path):
    out = tmp_path / "out"
    with output_lock(str(out), "webtext demo"):
        with output_lock(str(out) + "/", "webtext links"):  # nested: the same directory
            assert (out / LOCK_FILE).exists()
        assert (out / LOCK_FILE).exists()
        spec = shards.JobSpec("links", {"a": 1}, [])
        assert shards.prepare_output(str(out), spec) == "fresh"  # the lock file is no content
        (out / "part-00000-of-00001.parquet").write_bytes(b"x")
        assert shards.prepare_output(str(out), spec) == "resume"
        other = shards.JobSpec("links", {"a": 2}, [])
        assert shards.prepare_output(str(out), other, overwrite=True) == "fresh"
        assert sorted(p.name for p in out.iterdir()) == sorted([LOCK_FILE, "_job.json"])
    assert not (out / LOCK_FILE).exists()


def test_a_stale_lock_file_alone_leaves_a_directory_fresh(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_FILE).write_text('{"pid": 1, "host": "gone"}')
    assert shards.prepare_output(str(out), shards.JobSpec("links", {}, [])) == "fresh"


def test_message_without_a_readable_holder():
    assert "by another process" in locked_message("/x", None)


# ---------------------------------------------------------------------- the lease (object store)


def test_lease_refuses_a_second_owner_renews_and_is_removed(tmp_path):
    import pyarrow.fs as pafs

    fs = pafs.LocalFileSystem()
    path = str(tmp_path / "bucket" / "pages")
    lease_file = Path(path) / LOCK_FILE
    with lease_lock(fs, path, "webtext fetch", ttl_s=5.0, renew_s=0.2, settle_s=0.05) as lease:
        first = json.loads(lease_file.read_text())
        assert first["owner"] == lease.owner and first["expires_utc"] > time.time()
        refused = r"\(webtext fetch\); wait for it or stop it"
        with (
            pytest.raises(OutputLocked, match=refused),
            lease_lock(fs, path, "webtext fetch", settle_s=0.0),
        ):
            pass
        wait_until(
            lambda: json.loads(lease_file.read_text())["expires_utc"] > first["expires_utc"],
            timeout=10,
            what="a renewal",
        )
        assert not lease.lost
    assert not lease_file.exists()


def test_an_expired_lease_is_taken_over(tmp_path):
    import pyarrow.fs as pafs

    fs = pafs.LocalFileSystem()
    path = str(tmp_path / "pages")
    Path(path).mkdir()
    dead = {"owner": "dead", "pid": 1, "host": "h", "what": "webtext fetch",
            "started_utc": time.time() - 600, "expires_utc": time.time() - 1}  # fmt: skip
    (Path(path) / LOCK_FILE).write_text(json.dumps(dead))
    with lease_lock(fs, path, "webtext fetch", settle_s=0.0) as lease:
        assert json.loads((Path(path) / LOCK_FILE).read_text())["owner"] == lease.owner
    # A live one (expiry ahead) is not.
    (Path(path) / LOCK_FILE).write_text(json.dumps({**dead, "expires_utc": time.time() + 60}))
    with (
        pytest.raises(OutputLocked, match="lease expires at"),
        lease_lock(fs, path, "webtext fetch", settle_s=0.0),
    ):
        pass
