"""A file-system refusal gives one line naming the path and what to do (exit 3), never a
traceback, and nothing is marked finished; a directory given as a links input is refused before
any work. Real errors from the kernel: a full tmpfs (ENOSPC) and a read-only one (EROFS) in a
private mount namespace (`unshare -m`, skipped where not allowed), a directory without write
permission (EACCES; as root with CAP_DAC_OVERRIDE dropped by `setpriv`), a path through a
regular file (ENOTDIR)."""

from __future__ import annotations

import errno
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.io import fs_errors
from tests.helpers import submission, write_dump

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
EXIT_FILESYSTEM = 3


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", *args]


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=ENV, timeout=300)


def in_tmpfs(mountpoint: Path, options: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with a fresh tmpfs (``options``) on ``mountpoint``, seen by it alone."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) here")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare -m not permitted here: {probe.stderr.decode().strip()}")
    mountpoint.mkdir(exist_ok=True)
    quoted = " ".join(f"'{a}'" for a in argv)
    script = f"mount -t tmpfs -o {options} tmpfs '{mountpoint}' && exec {quoted}"
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True, text=True, cwd=REPO, env=ENV, timeout=300,
    )  # fmt: skip
    if "mount:" in result.stderr and "permission denied" in result.stderr.lower():
        pytest.skip("mounting a tmpfs is not permitted here")
    return result


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.fixture
def dump(tmp_path) -> Path:
    """A dump whose links/ shard is ~100 KB: random URLs do not compress."""
    rng = random.Random(7)
    posts = [
        submission(f"p{i}", f"https://s{i % 50}.org/{rng.getrandbits(128):032x}", 10)
        for i in range(2000)
    ]
    return write_dump(tmp_path / "RS_2019-01.zst", posts)


def test_disk_full_while_beam_writes_a_shard(tmp_path, dump):
    # 64 KiB: the lock file and _job.json fit, the shard does not; the error is raised inside
    # a Beam worker and reaches the command as text in Beam's RuntimeError.
    disk = tmp_path / "disk"
    result = in_tmpfs(
        disk, "size=64k", cli("links", str(dump), "--out", str(disk / "links"), "--num-shards", "1")
    )
    assert result.returncode == EXIT_FILESYSTEM, result.stderr
    line = one_error_line(result)
    assert f"{disk}/links/part-00000-of-00001.parquet: no space left on device; free space" in line
    assert "then rerun the same command" in line and "Nothing was marked finished" in line
    assert not (disk / "links").exists()  # the tmpfs was private to that process


def test_disk_full_before_anything_is_written(tmp_path, dump):
    disk = tmp_path / "disk"
    fill = f"dd if=/dev/zero of='{disk}/pad' bs=4096 count=1 2>/dev/null"
    argv = [
        "sh",
        "-c",
        f"{fill}; exec {' '.join(cli('links', str(dump), '--out', str(disk / 'out')))}",
    ]
    result = in_tmpfs(disk, "size=4k", argv)
    assert result.returncode == EXIT_FILESYSTEM, result.stderr
    assert f"{disk}/out/_lock: no space left on device" in one_error_line(result)


def test_read_only_output(tmp_path, dump):
    disk = tmp_path / "ro"
    result = in_tmpfs(disk, "ro", cli("links", str(dump), "--out", str(disk / "links")))
    assert result.returncode == EXIT_FILESYSTEM, result.stderr
    line = one_error_line(result)
    assert f"{disk}/links: read-only file system; write to a writable place instead" in line


def test_permission_denied(tmp_path, dump):
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    argv = cli("links", str(dump), "--out", str(parent / "links"))
    if os.geteuid() == 0:  # root writes anywhere unless CAP_DAC_OVERRIDE is dropped
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv(1) to drop CAP_DAC_OVERRIDE")
        caps = "-dac_override,-dac_read_search"
        argv = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", *argv]
    try:
        result = run(argv)
    finally:
        parent.chmod(0o755)
    assert result.returncode == EXIT_FILESYSTEM, result.stderr
    assert f"{parent}/links: permission denied; make it writable" in one_error_line(result)
    assert not (parent / "links").exists()


def test_output_below_a_regular_file(tmp_path, dump):
    (tmp_path / "a-file").write_text("not a directory")
    result = run(cli("links", str(dump), "--out", str(tmp_path / "a-file" / "links")))
    assert result.returncode == EXIT_FILESYSTEM, result.stderr
    line = one_error_line(result)
    assert f"{tmp_path}/a-file/links: a part of the path is a file, not a directory" in line


def test_a_directory_as_a_links_input_is_refused_before_any_work(tmp_path, dump):
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    write_dump(dumps / "RS_2019-02.zst", [submission("q1", "https://x.org/a", 10)])
    (dumps / "RS_2019-02.zst.sha256").write_text("...")
    out = tmp_path / "links"
    result = run(cli("links", str(dumps), str(dump), "--out", str(out)))
    assert result.returncode == 2
    line = one_error_line(result)
    assert f"input '{dumps}' is a directory; name the files in it instead, " in line
    assert f"e.g. '{dumps}/*.zst' (nothing was processed)" in line
    assert not out.exists()  # the good file beside it is not processed either: one run, fixed


# ------------------------------------------------------------------- the message, from errors


def test_describe_reads_errors_wrapped_as_text():
    beam = RuntimeError(
        "OSError: [Errno 28] No space left on device: '/d/out/part-00001-of-00008.parquet' "
        "[while running 'Write/WriteShard']"
    )
    assert fs_errors.describe(beam).startswith(
        "/d/out/part-00001-of-00008.parquet: no space left on device; "
    )
    arrow = OSError(errno.EROFS, "Cannot create directory '/d/x'. Detail: [errno 30] Read-only")
    assert fs_errors.describe(arrow).startswith("/d/x: read-only file system; ")
    try:  # a real ENOSPC from the kernel, no path in it, behind another error
        with open("/dev/full", "wb", buffering=0) as f:
            f.write(b"x")
    except OSError as exc:
        try:
            raise RuntimeError("job failed") from exc
        except RuntimeError as wrapped:
            assert fs_errors.describe(wrapped).startswith("no space left on device; free space")
    torch_text = RuntimeError(
        "[enforce fail at inline_container.cc:672] . unexpected pos 640 vs 534"
    )
    assert "writing a PyTorch file failed" in fs_errors.describe(torch_text)
    assert fs_errors.describe(ValueError("bad value")) is None
    assert fs_errors.describe(FileExistsError(errno.EEXIST, "exists", "/x")) is None


def test_disk_full_while_train_saves_a_checkpoint(tmp_path):
    # torch reports a short write as "[enforce fail at inline_container.cc] unexpected pos":
    # the user sees one line naming the checkpoint file, and no checkpoint is left behind.
    from test_model_train import _tokens_dir

    tokens = _tokens_dir(tmp_path / "tokens")
    disk = tmp_path / "disk"
    argv = cli("train", str(tokens), "--out", str(disk / "run"), "--model", "tiny",
               "--steps", "2", "--batch-tokens", "64", "--micro-batch", "2", "--seq-len", "16",
               "--eval-interval", "2", "--device", "cpu")  # fmt: skip
    result = in_tmpfs(disk, "size=256k", argv)
    assert result.returncode == EXIT_FILESYSTEM, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert f"{disk}/run/.checkpoint.pt.tmp-" in last and "no space left on device" in last
