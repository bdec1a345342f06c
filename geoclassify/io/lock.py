"""An OS lock on an output while a run writes it, so that a second run on the same target is refused.

The lock is `flock(LOCK_EX | LOCK_NB)` on a hidden lock file beside the output (`.NAME.partial.lock`). The kernel
drops it when the process ends in any way (kill -9 included), so a dead run's partial output is never "busy": a
later run takes the lock and resumes or replaces it. No PID is trusted: the PID written into the lock file only
names the holder in the refusal.

The lock file is removed by its holder when it is done. A run that opened the file just before (and got its lock
once it was released) sees that the path no longer leads to the file it locked, and tries again with a new one.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
from pathlib import Path

from geoclassify.errors import OutputError
from geoclassify.io.failures import write_error

log = logging.getLogger("geoclassify")

BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


class OutputBusyError(OutputError):
    """Another process writes this output now (it holds the output's lock)."""


class OutputLock:
    """The exclusive lock of `target`, held in `lock_file` (see the module docstring)."""

    def __init__(self, lock_file: Path, target: Path):
        self.lock_file, self.target = Path(lock_file), Path(target)
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or refuse in one line when another run holds it.

        Raises:
            OutputBusyError: another process holds the lock.
            OutputError: the lock file cannot be created (a read-only or full folder).
        """
        for _ in range(100):  # retried only while other runs remove the file between our open and our lock
            try:
                fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise write_error(self.lock_file, exc) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in BUSY:
                    raise OutputBusyError(self.busy_message()) from None
                log.warning("cannot lock %s (%s): another run writing %s at the same time would not be noticed",
                            self.lock_file, exc.strerror, self.target)
                return
            if same_file(fd, self.lock_file):
                self.fd = fd
                self.note_holder()
                return
            os.close(fd)  # the holder removed this file as we locked it: lock the new one
        raise OutputBusyError(self.busy_message())

    def check_free(self) -> None:
        """Refuse now, without taking the lock or creating its file, when another run holds it: a check before
        the slow start of a run (loading the model); the run takes the lock itself later.

        Raises:
            OutputBusyError: another process holds the lock.
        """
        try:
            fd = os.open(self.lock_file, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return  # no lock file (or none readable): nobody writes this output, or acquire will say why
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in BUSY:
                raise OutputBusyError(self.busy_message()) from None
        finally:
            os.close(fd)  # a shared lock taken here goes with the descriptor

    def busy_message(self) -> str:
        """The refusal: which output, which lock, and the holder's PID as it wrote it."""
        try:
            holder = self.lock_file.read_text().strip()
        except OSError:
            holder = ""
        by = f" (process {holder})" if holder.isdigit() else ""
        return (f"another run{by} is writing {self.target} (its partial output is locked: {self.lock_file}); "
                "wait for it to end or write to another file")

    def note_holder(self) -> None:
        """Write this process's PID into the lock file, for the refusal of another run (not used to decide)."""
        assert self.fd is not None
        try:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # a full disk: the lock holds all the same

    def release(self) -> None:
        """Remove the lock file and release the lock (a no-op when not held)."""
        if self.fd is None:
            return
        try:
            if same_file(self.fd, self.lock_file):
                self.lock_file.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only folder now: the file stays, unlocked, harmless
        finally:
            os.close(self.fd)
            self.fd = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self.fd is not None

    def __del__(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # the lock goes with the descriptor; the file stays, unlocked


def same_file(fd: int, path: Path) -> bool:
    """Whether `path` still names the file open as `fd`."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


class OutputLocks:
    """The locks of several outputs, taken in order and all released together."""

    def __init__(self, locks: list[OutputLock]):
        self.locks = locks

    def acquire(self) -> None:
        """Take every lock; on a refusal, release those taken.

        Raises:
            OutputBusyError, OutputError: see OutputLock.acquire.
        """
        try:
            for lock in self.locks:
                lock.acquire()
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Release every lock held."""
        for lock in self.locks:
            lock.release()
