"""One writer per run folder: an exclusive fcntl.flock on RUN_DIR/.lock while a training runs.

flock rather than an O_EXCL pid file: the kernel drops the lock when its process dies, however it dies (kill -9, a
crash, a power cut of the machine holding it on a network file system that supports locks), so a lock is never stale
and no pid has to be probed for liveness (pids are reused, and a pid on another host cannot be probed at all). The
file holds who has the lock (pid, host, command, since when), for the message of a process that is refused; a file
found with contents but without a lock was left by a process that died, and is taken over with a notice.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import IO

from .errors import CheckpointError, LockError


def _holder() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
            "since": time.strftime("%Y-%m-%d %H:%M:%S %z")}


def _describe(holder: dict) -> str:
    if not holder:
        return "another process (starting up)"
    if holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        return "an earlier Trainer of this process that has not ended (let its fit() finish, or call its close())"
    return (f"pid {holder.get('pid')} on {holder.get('host')} ({holder.get('command', '?')!r}) "
            f"since {holder.get('since')}")


def _read(f: IO[str]) -> dict:
    """The holder recorded in an open lock file; {} when it is empty or unreadable."""
    f.seek(0)
    try:
        holder = json.loads(f.read() or "{}")
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


class RunLock:
    """`with RunLock(path):` holds the lock file `path` (RunPaths.lock), or raises LockError naming its holder."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None

    def acquire(self) -> "RunLock":
        while True:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                f = open(self.path, "a+")
            except OSError as e:
                raise CheckpointError(f"cannot create {self.path} ({e.strerror}); choose a --ckpt or --run_dir in a "
                                      "folder you can write to") from None
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read(f)
                f.close()
                raise LockError(f"{self.path.parent} is in use by {_describe(holder)}; wait for that run to end or "
                                "stop it, or write into another --run_dir / --ckpt") from None
            # The holder before us deletes the file on release: if it did so after our open, we locked a file
            # that is no longer there and another process may lock the new one, so start again.
            try:
                same = os.path.samestat(os.fstat(f.fileno()), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            f.close()
        stale = _read(f)
        if stale:
            print(f"note: taking over the lock of {self.path.parent} from {_describe(stale)}, which ended without "
                  "releasing it", file=sys.stderr)
        f.seek(0)
        f.truncate()
        f.write(json.dumps(_holder()))
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        if self._file is None:
            return
        self.path.unlink(missing_ok=True)  # while still locked, so that nobody else's lock file is deleted
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()
        self._file = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
