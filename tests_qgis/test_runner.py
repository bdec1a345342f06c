"""runner.py on its own: finding the CLI, progress lines, errors, staged outputs, killing a run."""

from __future__ import annotations

import os
import stat
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from geoclassify_qgis import runner


def executable(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_locate_on_path_and_the_helpful_error(tmp_path):
    exe = executable(tmp_path / "bin" / "geoclassify", "print('hi')\n")
    assert runner.locate_cli("", path_env=str(exe.parent)) == [str(exe)]
    with pytest.raises(runner.CliNotFound) as err:
        runner.locate_cli(None, path_env=str(tmp_path / "empty"))
    message = str(err.value)
    assert "not found on PATH" in message
    assert "Processing \u25b8 Options \u25b8 Providers \u25b8 geoclassify" in message  # where to set the path
    assert "make setup" in message and "pip install" in message  # how to install


def test_locate_from_the_setting(tmp_path):
    exe = executable(tmp_path / "tools" / "my geoclassify", "")
    assert runner.locate_cli(str(exe)) == [str(exe)]
    env = tmp_path / "env"
    exe_in_env = executable(env / "bin" / "geoclassify", "")
    assert runner.locate_cli(str(env)) == [str(exe_in_env)]  # a virtual environment folder
    assert runner.locate_cli(str(env / "bin")) == [str(exe_in_env)]
    python_only = tmp_path / "conda"
    python = executable(python_only / "bin" / "python3", "")
    assert runner.locate_cli(str(python_only)) == [str(python), "-m", "geoclassify"]  # python -m geoclassify
    assert runner.locate_cli(str(python)) == [str(python), "-m", "geoclassify"]
    with pytest.raises(runner.CliNotFound, match="does not exist"):
        runner.locate_cli(str(tmp_path / "nowhere"))
    (tmp_path / "empty_env").mkdir()
    with pytest.raises(runner.CliNotFound, match="no geoclassify executable or Python interpreter"):
        runner.locate_cli(str(tmp_path / "empty_env"))


def test_progress_over_weighted_phases():
    progress = runner.Progress({"predict": 0.8, "polygonize": 0.2})
    assert progress.update({"progress": "predict", "done": 0, "total": 10}) == 0
    assert progress.update({"progress": "predict", "done": 5, "total": 10}) == pytest.approx(40)
    assert progress.update({"progress": "predict", "done": 10, "total": 10}) == pytest.approx(80)
    assert progress.update({"progress": "polygonize", "done": 50, "total": 100}) == pytest.approx(90)
    assert progress.update({"progress": "other", "done": 1, "total": 2}) is None
    assert progress.update({"progress": "predict", "done": 1, "total": 0}) is None


def test_error_message_is_the_clis_own_line():
    lines = ["resampling ...", '{"progress": "predict", "done": 0, "total": 3, "unit": "win"}',
             "Error: the model expects 3 band(s) [1, 2, 3]"]
    assert runner.error_message(lines, 1) == "the model expects 3 band(s) [1, 2, 3]"
    crash = runner.error_message(["Traceback (most recent call last):", "  File x", "MemoryError"], 1)
    assert crash.startswith("geoclassify exited with code 1") and "MemoryError" in crash
    assert "not installed" in runner.error_message(["/usr/bin/python3: No module named geoclassify"], 1)


def test_staging_moves_files_with_their_companions(tmp_path):
    target = tmp_path / "out" / "classes.tif"
    target.parent.mkdir()
    (tmp_path / "out" / "classes.tif.aux.xml").write_text("stale")
    with runner.Staging() as staging:
        staged = Path(staging.stage(target))
        assert staged.parent.parent == target.parent and staged.parent.name.startswith(".geoclassify-")
        staged.write_text("tif")
        assert staging.public(f"wrote {staged}") == f"wrote {target}"
        shp = Path(staging.stage(tmp_path / "out" / "fields.shp"))
        for ext in ("shp", "dbf", "shx", "prj"):
            shp.with_suffix("." + ext).write_text(ext)
        staging.commit()
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["classes.tif", "fields.dbf", "fields.prj", "fields.shp", "fields.shx"]  # stale sidecar gone


def test_staging_without_commit_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with runner.Staging() as staging:
            Path(staging.stage(tmp_path / "a.tif")).write_text("half")
            raise RuntimeError("failed")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(runner.CliFailed, match="does not exist"):
        runner.Staging().stage(tmp_path / "missing" / "a.tif")


FAKE_CLI = """
import json, sys, time
args = sys.argv[1:]
assert args[:2] == ["--progress-format", "json"], args
mode = args[2]
if mode == "ok":
    print("card line 1")
    print("caf\\u00e9 log line", file=sys.stderr)
    for i in range(5):
        print(json.dumps({"progress": "predict", "done": i, "total": 4, "unit": "win"}), file=sys.stderr)
    print("wrote out.tif", file=sys.stderr)
elif mode == "fail":
    print("Error: scene.tif does not exist", file=sys.stderr)
    sys.exit(1)
elif mode == "hang":
    print(json.dumps({"progress": "predict", "done": 1, "total": 1000, "unit": "win"}), file=sys.stderr, flush=True)
    time.sleep(600)
"""


def test_run_reports_progress_log_and_stdout(tmp_path):
    fake = executable(tmp_path / "geoclassify", FAKE_CLI)
    logs, progress, phases = [], [], []
    result = runner.run_cli([str(fake)], ["ok"], on_log=logs.append, on_progress=progress.append,
                            on_phase=phases.append)
    assert result.stdout == ["card line 1"]
    assert logs == ["caf\u00e9 log line", "wrote out.tif"]
    assert progress == sorted(progress) and progress[-1] == 100.0 and 50.0 in progress
    assert phases == ["predict"]
    with pytest.raises(runner.CliFailed, match="^scene.tif does not exist$"):
        runner.run_cli([str(fake)], ["fail"])


def test_cancel_kills_at_once(tmp_path):
    fake = executable(tmp_path / "geoclassify", FAKE_CLI)
    started = threading.Event()
    procs = []
    cancel_at = []

    def on_progress(pct):
        started.set()
        cancel_at.append(time.monotonic())

    with pytest.raises(runner.Canceled, match="nothing was written"):
        runner.run_cli([str(fake)], ["hang"], on_progress=on_progress, on_start=procs.append,
                       is_canceled=started.is_set)
    assert time.monotonic() - cancel_at[0] < 5
    assert procs[0].poll() is not None  # dead
    with pytest.raises(ProcessLookupError):
        os.kill(procs[0].pid, 0)


def test_a_program_that_is_no_cli(tmp_path):
    with pytest.raises(runner.CliNotFound, match="cannot start"):
        runner.run_cli([str(tmp_path / "gone")], ["info"])
