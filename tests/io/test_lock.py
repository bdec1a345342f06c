"""The OS lock of an output being written (io.lock): refused while held, free once its holder is gone."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys

import pytest

from geoclassify.io import lock as lock_module
from geoclassify.io.lock import OutputBusyError, OutputLock, OutputLocks

HOLD = """
import sys, time
from pathlib import Path
from geoclassify.io.lock import OutputLock
lock = OutputLock(Path(sys.argv[1]), Path(sys.argv[2]))
lock.acquire()
print("locked", flush=True)
time.sleep(600)
"""


def test_a_held_lock_refuses_another_holder_until_released(tmp_path):
    first = OutputLock(tmp_path / ".out.tif.partial.lock", tmp_path / "out.tif")
    first.acquire()
    second = OutputLock(tmp_path / ".out.tif.partial.lock", tmp_path / "out.tif")
    with pytest.raises(OutputBusyError) as refused:
        second.acquire()
    assert str(refused.value) == (f"another run (process {os.getpid()}) is writing {tmp_path}/out.tif (its partial "
                                  f"output is locked: {tmp_path}/.out.tif.partial.lock); wait for it to end or write "
                                  "to another file")
    first.release()
    assert not (tmp_path / ".out.tif.partial.lock").exists()
    second.acquire()
    assert second.held
    second.release()


def test_the_lock_of_a_killed_process_is_free(tmp_path):
    """kill -9 runs no clean-up: the lock file stays, but the kernel dropped the lock with the process."""
    lock_file, target = tmp_path / ".out.tif.partial.lock", tmp_path / "out.tif"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock_file), str(target)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(OutputBusyError, match=f"another run \\(process {holder.pid}\\) is writing"):
            OutputLock(lock_file, target).acquire()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        holder.kill()
    assert lock_file.exists()
    lock = OutputLock(lock_file, target)
    lock.acquire()
    assert lock.held and lock_file.read_text() == f"{os.getpid()}\n"
    lock.release()


def test_a_lock_file_removed_by_its_holder_as_it_is_locked_is_locked_again(tmp_path, monkeypatch):
    """The holder releases (and removes the file) between our open and our flock: we must not hold a lock on the
    removed file while a third run locks a new one at the same name."""
    lock_file, target = tmp_path / ".out.tif.partial.lock", tmp_path / "out.tif"
    first = OutputLock(lock_file, target)
    first.acquire()
    flock = fcntl.flock

    def release_first_then_flock(fd, operation):
        first.release()
        return flock(fd, operation)

    monkeypatch.setattr(lock_module.fcntl, "flock", release_first_then_flock)
    second = OutputLock(lock_file, target)
    second.acquire()
    assert lock_module.same_file(second.fd, lock_file)
    monkeypatch.undo()
    with pytest.raises(OutputBusyError):
        OutputLock(lock_file, target).acquire()
    second.release()


def test_locks_of_several_outputs_are_all_or_none(tmp_path):
    a = OutputLock(tmp_path / ".a.lock", tmp_path / "a.tif")
    b = OutputLock(tmp_path / ".b.lock", tmp_path / "b.tif")
    other = OutputLock(tmp_path / ".b.lock", tmp_path / "b.tif")
    other.acquire()
    with pytest.raises(OutputBusyError, match="b.tif"):
        OutputLocks([a, b]).acquire()
    assert not a.held and not (tmp_path / ".a.lock").exists()
    other.release()


def test_a_lock_in_a_read_only_folder_is_one_line(tmp_path):
    from geoclassify.errors import OutputError
    from tests.io.test_writer import tmpfs

    with tmpfs(tmp_path / "ro", "1m", read_only=True) as folder:
        with pytest.raises(OutputError, match=f"^read-only file system while writing {folder}/.out.tif.partial.lock$"):
            OutputLock(folder / ".out.tif.partial.lock", folder / "out.tif").acquire()


@pytest.mark.parametrize("locked", ["classes", "probabilities"])
def test_an_output_being_written_is_refused_by_the_checks_before_any_work(tmp_path, locked):
    """check_outputs (run before the model is loaded) refuses an output whose lock another process holds, without
    taking the lock or creating a file; once the holder is gone the same check passes."""
    from geoclassify.inference.config import PredictConfig, SceneOutputs
    from geoclassify.inference.pipeline import check_outputs

    outputs = SceneOutputs(tmp_path / "classes.tif", tmp_path / "probabilities.tif")
    target = getattr(outputs, locked)
    lock_file = tmp_path / f".{target.name}.partial.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock_file), str(target)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(OutputBusyError, match=f"process {holder.pid}.* is writing {target}"):
            check_outputs(outputs, PredictConfig(), None)
        assert sorted(p.name for p in tmp_path.iterdir()) == [lock_file.name]
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert check_outputs(outputs, PredictConfig(), None) is False
