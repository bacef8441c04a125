"""One writer per output directory: ``with output_lock(directory, "webtext links"): ...``.

Two runs writing one directory clobber each other (two `train` runs both exit 0 and one is
lost; two `fetch` runs double the requests to every host). Every command that writes a
directory holds its lock for the whole run; a second writer is refused at once with one line:

    out/links is being written by pid 4242 on host-a since 2025-01-02 03:04:05 UTC
    (webtext links); wait for it or stop it

Local paths: a ``_lock`` file in the directory (the underscore keeps Parquet readers and
``list_shards`` off it), held with ``fcntl.flock(LOCK_EX | LOCK_NB)``. It holds the pid, host,
command and start time of the holder, for the message. The kernel drops the lock when the
process dies, however it dies (kill -9, OOM, power loss of a local disk), so a lock file left
behind never blocks anyone: the next run takes the lock and rewrites the file. The file is
removed when the holder finishes. flock works across machines on NFSv4 (Linux emulates it with
NFS byte-range locks); on other network file systems it may only exclude local processes.
Children forked (not exec'd) from the holder share its lock until they exit.

Object stores (``s3://``, ``gs://``, any ``scheme://`` pyarrow.fs opens): a lease object
``_lock`` (JSON: owner id, pid, host, command, start, expiry), written when absent or expired,
renewed by a background thread every ``renew_s`` seconds and deleted at the end. A holder that
dies leaves a lease that expires after ``ttl_s`` seconds (default 120): a new run is refused
until then, with the expiry in the message. Limits, honestly:

- pyarrow.fs has no atomic create-if-absent (S3 conditional writes ``If-None-Match``, GCS
  ``ifGenerationMatch=0``). The lease is written, then read back after ``settle_s`` seconds;
  a writer that finds another owner backs off. Two writers that both read "absent" and whose
  write/read-back windows do not overlap can still both proceed: a narrow race, not a
  guarantee. Don't start two runs on one bucket prefix at the same second.
- Expiry is wall-clock time: hosts' clocks must agree to well within ``ttl_s``.
- A holder stalled longer than ``ttl_s`` (a suspended laptop) loses its lease; the renewal
  thread notices (another owner in the object) and logs an error, but cannot stop the job.

Within one process the lock is re-entrant: a nested ``output_lock`` on a directory this process
already holds just counts (a demo or a stage calling another stage's code).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

LOCK_FILE = "_lock"
LEASE_TTL_S = 120.0
LEASE_RENEW_S = 30.0
LEASE_SETTLE_S = 2.0


class OutputLocked(Exception):
    """Another process is writing the directory. ``str()`` is the one-line message."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as written in the lock file."""

    pid: int | None
    host: str
    what: str
    started_utc: float | None
    command: str = ""
    owner: str = ""
    expires_utc: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "host": self.host,
            "what": self.what,
            "started_utc": self.started_utc,
            "started": _utc(self.started_utc),
            "command": self.command,
            "owner": self.owner,
            "expires_utc": self.expires_utc,
        }

    @classmethod
    def from_json(cls, text: str) -> Holder | None:
        """The holder a lock file names, or None when it is empty or unreadable."""
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None

        def number(key: str) -> float | None:
            value = data.get(key)
            return float(value) if isinstance(value, (int, float)) else None

        pid = data.get("pid")
        return cls(
            pid=pid if isinstance(pid, int) else None,
            host=str(data.get("host") or "?"),
            what=str(data.get("what") or "?"),
            started_utc=number("started_utc"),
            command=str(data.get("command") or ""),
            owner=str(data.get("owner") or ""),
            expires_utc=number("expires_utc"),
        )


def _utc(t: float | None) -> str:
    return (
        "an unknown time" if t is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))
    )


def this_process(what: str, *, owner: str = "", expires_utc: float | None = None) -> Holder:
    return Holder(
        pid=os.getpid(),
        host=socket.gethostname(),
        what=what,
        started_utc=time.time(),
        command=" ".join([os.path.basename(sys.argv[0] or "python"), *sys.argv[1:]])[:500],
        owner=owner,
        expires_utc=expires_utc,
    )


def locked_message(directory: str, holder: Holder | None) -> str:
    """The one line a refused writer prints."""
    if holder is None:
        return (
            f"{directory} is being written by another process (its {LOCK_FILE} file is not "
            "readable yet); wait for it or stop it"
        )
    pid = f"pid {holder.pid}" if holder.pid is not None else "a process"
    text = (
        f"{directory} is being written by {pid} on {holder.host} since "
        f"{_utc(holder.started_utc)} ({holder.what}); wait for it or stop it"
    )
    if holder.expires_utc is not None:
        text += f" (its lease expires at {_utc(holder.expires_utc)} unless renewed)"
    return text


def is_remote(directory: str) -> bool:
    return "://" in directory and not directory.startswith("file://")


# ------------------------------------------------------------------------------- local: flock

_held_lock = threading.Lock()
_held: dict[str, int] = {}  # directory -> nesting depth in this process (re-entrant)


def _read_holder_fd(fd: int, attempts: int = 20) -> Holder | None:
    """The holder named in an open lock file. It writes the file right after taking the lock,
    so an empty file is read again for a moment."""
    for _ in range(attempts):
        size = os.fstat(fd).st_size
        holder = Holder.from_json(os.pread(fd, max(size, 1), 0).decode("utf-8", "replace"))
        if holder is not None:
            return holder
        time.sleep(0.05)
    return None


def _same_file(fd: int, path: str) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (st.st_dev, st.st_ino)


def _acquire_flock(directory: str, what: str) -> tuple[int, str]:
    """Take the lock file in ``directory`` (created, parents too); (fd, lock path)."""
    import fcntl

    local = directory[len("file://") :] if directory.startswith("file://") else directory
    os.makedirs(local, exist_ok=True)
    path = os.path.join(local, LOCK_FILE)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder_fd(fd)
            os.close(fd)
            raise OutputLocked(locked_message(directory, holder)) from None
        except BaseException:
            os.close(fd)
            raise
        # A holder releasing removes the file after we opened it: we would hold a lock on a
        # file nobody else sees. Retry on the path's current file.
        if _same_file(fd, path):
            break
        os.close(fd)
    data = json.dumps(this_process(what).to_dict(), sort_keys=True).encode("utf-8") + b"\n"
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except OSError as exc:  # a full disk: name the file (os.pwrite does not)
        _release_flock(fd, path)
        raise OSError(exc.errno, exc.strerror, path) from exc
    return fd, path


def _release_flock(fd: int, path: str) -> None:
    try:
        os.unlink(path)  # while still holding it: a waiter that opened it retries (_same_file)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


@contextmanager
def _flock(directory: str, what: str) -> Iterator[None]:
    fd, path = _acquire_flock(directory, what)
    try:
        yield
    finally:
        _release_flock(fd, path)


# ------------------------------------------------------------------------ object store: lease


class _Lease:
    """A lease object on a pyarrow FileSystem (see the module docstring for its limits)."""

    def __init__(
        self, fs: Any, directory: str, path: str, what: str, ttl_s: float, renew_s: float
    ) -> None:
        self.fs = fs
        self.directory = directory  # as the user spelled it, for messages
        self.path = path  # the lease object's path on ``fs``
        self.what = what
        self.ttl_s = ttl_s
        self.renew_s = renew_s
        self.owner = uuid.uuid4().hex
        self.holder = this_process(what, owner=self.owner)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def _read(self) -> Holder | None:
        import pyarrow.fs as pafs

        if self.fs.get_file_info(self.path).type == pafs.FileType.NotFound:
            return None
        try:
            with self.fs.open_input_stream(self.path) as f:
                return Holder.from_json(f.read().decode("utf-8", "replace"))
        except FileNotFoundError:
            return None

    def _write(self) -> None:
        record = Holder(**{**self.holder.__dict__, "expires_utc": time.time() + self.ttl_s})
        data = json.dumps(record.to_dict(), sort_keys=True).encode("utf-8") + b"\n"
        with self.fs.open_output_stream(self.path) as out:
            out.write(data)

    def _refuse_if_held(self) -> None:
        current = self._read()
        if (
            current is not None
            and current.owner != self.owner
            and (current.expires_utc is None or current.expires_utc > time.time())
        ):
            raise OutputLocked(locked_message(self.directory, current))

    def acquire(self, settle_s: float) -> None:
        parent = self.path.rpartition("/")[0]
        self.fs.create_dir(parent, recursive=True)
        self._refuse_if_held()
        self._write()
        time.sleep(settle_s)  # a writer that raced us has written by now: the last one wins
        self._refuse_if_held()
        self._thread = threading.Thread(target=self._renew_loop, name="lease-renew", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.renew_s):
            try:
                current = self._read()
                if current is not None and current.owner != self.owner:
                    self.lost = True
                    log.error(
                        "%s: lost the write lease to pid %s on %s (this run stalled past "
                        "its %.0fs lease?); two runs may now be writing it",
                        self.directory,
                        current.pid,
                        current.host,
                        self.ttl_s,
                    )
                    return
                self._write()
            except Exception as exc:  # a network blip: try again at the next period
                log.warning("%s: could not renew the write lease: %s", self.directory, exc)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            current = self._read()
            if current is not None and current.owner == self.owner:
                self.fs.delete_file(self.path)
        except Exception as exc:  # leave it to expire
            log.warning("%s: could not remove the write lease: %s", self.directory, exc)


@contextmanager
def lease_lock(
    fs: Any,
    path: str,
    what: str,
    *,
    display: str | None = None,
    ttl_s: float = LEASE_TTL_S,
    renew_s: float = LEASE_RENEW_S,
    settle_s: float = LEASE_SETTLE_S,
) -> Iterator[_Lease]:
    """Hold a lease object in directory ``path`` of pyarrow FileSystem ``fs``. Used by
    ``output_lock`` for object-store URIs; callable on any pyarrow FileSystem (tests use the
    local one)."""
    lease = _Lease(fs, display or path, f"{path.rstrip('/')}/{LOCK_FILE}", what, ttl_s, renew_s)
    lease.acquire(settle_s)
    try:
        yield lease
    finally:
        lease.release()


# ------------------------------------------------------------------------------------- API


@contextmanager
def output_lock(directory: str, what: str) -> Iterator[None]:
    """Hold ``directory`` exclusively for the ``with`` block (the directory is created).

    ``what`` names the run for the message a refused writer sees, e.g. ``"webtext train"``.
    Raises :class:`OutputLocked` (one-line message) when another process holds it; OSError
    when the directory cannot be created or written (read-only, permission, disk full)."""
    key = directory if is_remote(directory) else os.path.realpath(directory.removeprefix("file://"))
    with _held_lock:
        nested = key in _held
        _held[key] = _held.get(key, 0) + 1
    try:
        if nested:
            yield
        elif is_remote(directory):
            from pipeline.io.object_store import resolve  # pyarrow: only for a remote lock

            fs, path = resolve(directory)
            with lease_lock(fs, path, what, display=directory):
                yield
        else:
            with _flock(directory, what):
                yield
    finally:
        with _held_lock:
            _held[key] -= 1
            if not _held[key]:
                del _held[key]
