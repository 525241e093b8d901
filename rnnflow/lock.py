"""One writer per results folder: ``<folder>/.lock``, created atomically, holding the owner's pid.

A second writer fails at once with :class:`FolderLockedError` naming the owner (it does
not wait: a training run or a study can take hours, and a silent wait looks like a hang;
rerun when the owner is done, and a finished folder is read back, not recomputed).

A lock whose owner is gone (the pid is dead on this host, e.g. after ``kill -9``) is
stale and is taken over. Taking over reads, checks and removes the old lock under an
``flock`` on the folder itself (released by the kernel if the taker dies), so two
processes never both take over the same stale lock; the lock itself is created with
``O_CREAT | O_EXCL``, which exactly one creator wins.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import time

from .io import remove_stale_temps

try:
    import fcntl
except ImportError:   # pragma: no cover - not POSIX: takeover without the guard
    fcntl = None

LOCK = ".lock"


class FolderLockedError(RuntimeError):
    """Another live process holds the folder's lock."""


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # someone else's live process
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class FolderLock:
    """``with FolderLock(folder):`` holds ``folder/.lock`` (the folder is created if needed);
    once held, the temporary files of killed writes are removed from ``folder`` and the
    folders in ``clean`` (:func:`rnnflow.io.remove_stale_temps`).

    Raises :class:`FolderLockedError` when a live process holds it.
    """

    def __init__(self, folder, clean=()):
        self.folder = os.fspath(folder)
        self.path = os.path.join(self.folder, LOCK)
        self.clean = (self.folder, *map(os.fspath, clean))
        self._held = False

    def acquire(self) -> "FolderLock":
        """Take the lock (or raise :class:`FolderLockedError`), then clean stale temporary files."""
        self._take()
        for folder in dict.fromkeys(self.clean):
            remove_stale_temps(folder)
        return self

    def _take(self) -> None:
        os.makedirs(self.folder, exist_ok=True)
        if self._create():
            return
        with self._guard():
            owner = self._owner()
            if owner is not None and not self._stale(owner):
                raise FolderLockedError(
                    f"{self.folder} is being written by another process (pid {owner.get('pid')} on "
                    f"{owner.get('host')!r}, since {owner.get('since')}; lock file {self.path}): wait for it "
                    "to finish, or delete the lock file if no such process runs")
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)
            if self._create():
                return
        raise FolderLockedError(f"{self.folder} is being written by another process (lock file {self.path}, "
                                "just created by it): wait for it to finish")

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        owner = self._owner()
        if owner is not None and owner.get("pid") == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    # ------------------------------------------------------------ internals
    def _create(self) -> bool:
        """Create the lock file holding our pid; False if it exists."""
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(),
                       "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, f)
        self._held = True
        return True

    def _owner(self) -> dict | None:
        """The lock file's content; ``{}`` if unreadable (being written, or garbled); None if absent."""
        try:
            with open(self.path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return None
        try:
            owner = json.loads(text)
            return owner if isinstance(owner, dict) else {}
        except ValueError:
            return {}

    def _stale(self, owner: dict) -> bool:
        pid = owner.get("pid")
        if not isinstance(pid, int):
            # empty or garbled: a creator between O_EXCL and its write, or one killed there
            try:
                return time.time() - os.path.getmtime(self.path) > 10
            except FileNotFoundError:
                return True
        return owner.get("host") == socket.gethostname() and not pid_alive(pid)

    @contextlib.contextmanager
    def _guard(self):
        if fcntl is None:   # pragma: no cover
            yield
            return
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)   # closing releases the flock
