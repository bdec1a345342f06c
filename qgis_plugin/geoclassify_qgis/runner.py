"""Find and run the `geoclassify` command line tool: progress, log lines, cancel, staged outputs.

Plain Python (no QGIS imports), so torch and the rest of geoclassify never load inside QGIS: the
plugin only builds a command line and reads what the subprocess writes.

- `locate_cli(setting)`: the command that runs geoclassify, from the Processing setting (an executable,
  a Python interpreter or a Python environment folder) or from PATH; `CliNotFound` with a how-to otherwise.
- `Staging`: outputs are written into a hidden folder beside each target and moved into place only
  after the CLI succeeded, so a failed or cancelled run leaves nothing at (or beside) the targets.
- `stream_process(...)`: runs a program, hands its output lines to the caller and kills it (with its children)
  as soon as the caller says it was cancelled; `run_cli` and the set-up's pip (setup_env.py) run on it.
- `run_cli(...)`: runs the command with `--progress-format json`, turns its JSON progress lines into a
  percentage and passes the other lines on as log lines.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

SETTING_HELP = ("Processing \u25b8 Options \u25b8 Providers \u25b8 geoclassify \u25b8 "
                "\u201cgeoclassify executable or Python environment\u201d")
SETUP_HELP = "Processing Toolbox \u25b8 geoclassify \u25b8 Set up geoclassify"
INSTALL_HELP = (f"To set it up from QGIS, run {SETUP_HELP}: it installs geoclassify into a Python environment in "
                "your QGIS profile (from the package index, or from wheel files for an offline machine) and sets "
                "the path. Or install it yourself into a Python environment of its own: `make setup` in a clone of "
                "the geoclassify repository (it makes .venv there), or python3 -m venv ~/geoclassify-env && "
                "~/geoclassify-env/bin/pip install geoclassify; then set the path of that environment, or of its "
                f"geoclassify executable, in {SETTING_HELP}, or put geoclassify on the PATH QGIS starts with.")
POLL_SECONDS = 0.1  # how often the cancel flag is checked


class CliNotFound(Exception):
    """No geoclassify command at the configured path or on PATH."""


class CliFailed(Exception):
    """The CLI exited with an error; the message is the CLI's own."""


class Canceled(Exception):
    """The run was cancelled; the subprocess is dead and nothing was written."""


def executable_name(name: str) -> str:
    """A program's file name on this platform: NAME, or NAME.exe on Windows."""
    return name + ".exe" if sys.platform == "win32" else name


def _python_command(python: Path) -> list[str]:
    return [str(python), "-m", "geoclassify"]


def _in_environment(folder: Path) -> list[str] | None:
    """The geoclassify command inside a Python environment (venv/conda) folder or its bin/Scripts folder."""
    for bindir in (folder / "bin", folder / "Scripts", folder):
        exe = bindir / executable_name("geoclassify")
        if exe.is_file():
            return [str(exe)]
    for bindir in (folder / "bin", folder / "Scripts", folder):
        for name in ("python3", "python"):
            python = bindir / executable_name(name)
            if python.is_file():
                return _python_command(python)
    return None


def locate_cli(setting: str | None, path_env: str | None = None) -> list[str]:
    """The command (argv prefix) that runs geoclassify.

    `setting` is the Processing setting: the `geoclassify` executable, a Python interpreter that has
    geoclassify installed (run as `python -m geoclassify`), or a Python environment folder; empty means
    `geoclassify` on PATH (`path_env`, default the process's PATH).
    """
    setting = (setting or "").strip().strip('"')
    if setting:
        path = Path(os.path.expanduser(setting))
        if path.is_dir():
            found = _in_environment(path)
            if found is None:
                raise CliNotFound(f"no geoclassify executable or Python interpreter in the folder {path} set in "
                                  f"{SETTING_HELP}. {INSTALL_HELP}")
            return found
        if path.is_file():
            if path.name.lower().startswith("python"):
                return _python_command(path)
            return [str(path)]
        raise CliNotFound(f"the geoclassify path {setting} set in {SETTING_HELP} does not exist. {INSTALL_HELP}")
    found = shutil.which("geoclassify", path=path_env)
    if found is None:
        raise CliNotFound(f"the geoclassify command line tool was not found on PATH. {INSTALL_HELP}")
    return [found]


def cli_environment() -> dict[str, str]:
    """The environment for the CLI: QGIS's own, without the variables that tie Python to QGIS's interpreter."""
    env = dict(os.environ)
    for name in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "__PYVENV_LAUNCHER__"):
        env.pop(name, None)
    env.update(PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8", PYTHONUTF8="1")
    return env


def _same_device(a: Path, b: Path) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b.parent).st_dev
    except OSError:
        return False


# --- staged outputs -----------------------------------------------------------------------------------------


class Staging:
    """Outputs written in hidden folders beside their targets and moved into place on `commit`.

    `stage(target)` gives the path the CLI should write; every file the CLI writes next to it with the
    same base name (a GeoTIFF's .aux.xml, a shapefile's .dbf/.shx/.prj/.cpg) moves along. Leaving the
    `with` block without commit deletes the folders.
    """

    PREFIX = ".geoclassify-"

    def __init__(self) -> None:
        self.items: list[tuple[Path, Path]] = []  # (staged path, target)
        self.folders: list[Path] = []

    def stage(self, target: str | os.PathLike) -> str:
        target = Path(target)
        parent = target.parent if str(target.parent) else Path(".")
        if not parent.is_dir():
            raise CliFailed(f"the folder {parent} for the output {target.name} does not exist")
        if target.is_dir():
            raise CliFailed(f"the output {target} is a folder; give a file name")
        try:
            folder = Path(tempfile.mkdtemp(prefix=self.PREFIX, dir=parent))
        except OSError as exc:
            raise CliFailed(f"cannot write in {parent}: {exc.strerror}") from None
        self.folders.append(folder)
        staged = folder / target.name
        self.items.append((staged, target))
        return str(staged)

    def public(self, text: str) -> str:
        """`text` with the staged paths replaced by their targets (for log lines shown to the user)."""
        for staged, target in self.items:
            text = text.replace(str(staged), str(target))
        return text

    def commit(self) -> None:
        """Move every staged file into place (replacing older files of the same names), then clean up."""
        for staged, target in self.items:
            if not staged.exists():
                continue
            if not Path(str(staged) + ".aux.xml").exists():
                Path(str(target) + ".aux.xml").unlink(missing_ok=True)  # a stale sidecar would rename the classes
            for p in sorted(staged.parent.iterdir()):  # the folder holds this output and its companions only
                if p.name.startswith("."):
                    continue
                dest = target.parent / p.name
                if dest.is_dir():
                    shutil.rmtree(dest)
                if _same_device(p, dest):
                    os.replace(p, dest)
                else:
                    dest.unlink(missing_ok=True)
                    shutil.move(str(p), str(dest))
        self.cleanup()

    def cleanup(self) -> None:
        for folder in self.folders:
            shutil.rmtree(folder, ignore_errors=True)
        self.folders.clear()

    def __enter__(self) -> "Staging":
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()


# --- running ------------------------------------------------------------------------------------------------


@dataclass
class Progress:
    """Overall percentage from per-phase JSON progress lines, each phase weighted."""

    weights: dict[str, float]
    done: dict[str, float] = field(default_factory=dict)

    def update(self, record: dict) -> float | None:
        phase, total = record.get("progress"), record.get("total")
        if phase not in self.weights or not total:
            return None
        self.done[phase] = max(self.done.get(phase, 0.0), min(1.0, record.get("done", 0) / total))
        return 100.0 * sum(w * self.done.get(p, 0.0) for p, w in self.weights.items()) / sum(self.weights.values())


@dataclass
class RunResult:
    stdout: list[str]
    log: list[str]
    seconds: float


def _progress_record(line: str) -> dict | None:
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "progress" in record else None


def _pump(stream, tag: str, out: queue.Queue) -> None:
    """Lines of a byte stream (split at \\n and \\r) into the queue, then (tag, None) at its end."""
    buffer = b""
    try:
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                break
            buffer += chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                out.put((tag, line.decode("utf-8", "replace")))
        if buffer:
            out.put((tag, buffer.decode("utf-8", "replace")))
    except (OSError, ValueError):
        pass
    finally:
        out.put((tag, None))


def _kill(proc: subprocess.Popen) -> None:
    """Kill the CLI (and anything it started) at once."""
    if proc.poll() is not None:
        return
    try:
        if sys.platform != "win32":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        proc.kill()


def error_message(lines: Sequence[str], returncode: int) -> str:
    """The CLI's own error line(s), or the tail of its output when it crashed without one."""
    errors = [line[len("Error: "):] if line.startswith("Error: ") else line[len("Error:"):].strip()
              for line in lines if line.startswith("Error:")]
    if errors:
        return errors[-1]
    text = [line for line in lines if line.strip() and _progress_record(line) is None]
    if any("No module named geoclassify" in line for line in text):
        return f"geoclassify is not installed in that Python environment. {INSTALL_HELP}"
    tail = "\n".join(text[-15:])
    return f"geoclassify exited with code {returncode}" + (f":\n{tail}" if tail else "")


def popen_options() -> dict:
    """Popen arguments for a child that can be killed as a whole: its own process group (session), no console."""
    if sys.platform == "win32":
        return {"creationflags": getattr(subprocess, "CREATE_NO_WINDOW", 0) | subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def stream_process(argv: Sequence[str], on_line: Callable[[str, str], None], *,
                   is_canceled: Callable[[], bool] = lambda: False, canceled_message: str = "cancelled",
                   env: dict[str, str] | None = None, cwd: str | None = None,
                   on_start: Callable[[subprocess.Popen], None] = lambda proc: None,
                   on_poll: Callable[[], None] = lambda: None) -> int:
    """Run `argv` to its end and return its exit code; each line it writes goes to `on_line(tag, line)`.

    `tag` is "out" (stdout) or "err" (stderr); lines are split at \\n and \\r (progress bars). `is_canceled` and
    `on_poll` are called every POLL_SECONDS: when `is_canceled` turns true the process and its children are killed
    at once and Canceled(`canceled_message`) is raised. OSError if the program cannot be started.
    """
    proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=cli_environment() if env is None else env, cwd=cwd, **popen_options())
    on_start(proc)
    lines: queue.Queue = queue.Queue()
    for stream, tag in ((proc.stdout, "out"), (proc.stderr, "err")):
        threading.Thread(target=_pump, args=(stream, tag, lines), daemon=True).start()

    def check_canceled() -> None:
        if is_canceled():
            _kill(proc)
            proc.wait()
            raise Canceled(canceled_message)

    open_streams = 2
    try:
        while open_streams:
            check_canceled()
            on_poll()
            try:
                tag, line = lines.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if line is None:
                open_streams -= 1
            else:
                on_line(tag, line)
        while proc.poll() is None:  # streams closed; the process is about to exit
            check_canceled()
            time.sleep(POLL_SECONDS / 10)
    except BaseException:
        _kill(proc)
        proc.wait()
        raise
    finally:
        for stream in (proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
    return proc.returncode


def run_cli(command: Sequence[str], args: Iterable[str], *, on_log: Callable[[str], None] = lambda line: None,
            on_progress: Callable[[float], None] = lambda pct: None,
            on_phase: Callable[[str], None] = lambda phase: None,
            is_canceled: Callable[[], bool] = lambda: False,
            phases: dict[str, float] | None = None, cwd: str | None = None,
            on_start: Callable[[subprocess.Popen], None] = lambda proc: None) -> RunResult:
    """Run `command --progress-format json ARGS`; raise CliFailed or Canceled, else return what it printed.

    stdout lines are collected (a command's result, e.g. `info`); stderr lines are JSON progress (turned
    into a percentage over `phases`, name -> weight) or log lines (passed to `on_log`).
    `is_canceled` is polled every POLL_SECONDS: when it turns true the process is killed at once.
    """
    argv = [*command, "--progress-format", "json", *args]
    progress = Progress(phases or {"predict": 1.0})
    start = time.monotonic()
    stdout: list[str] = []
    log: list[str] = []
    phase: list[str] = []

    def on_line(tag: str, line: str) -> None:
        if tag == "out":
            stdout.append(line)
        elif (record := _progress_record(line)) is not None:
            if record["progress"] not in phase[-1:]:
                phase.append(record["progress"])
                on_phase(record["progress"])
            pct = progress.update(record)
            if pct is not None:
                on_progress(pct)
        elif line.strip():
            log.append(line)
            on_log(line)

    try:
        returncode = stream_process(argv, on_line, is_canceled=is_canceled, cwd=cwd, on_start=on_start,
                                    canceled_message="cancelled: geoclassify was stopped and nothing was written")
    except OSError as exc:
        raise CliNotFound(f"cannot start {argv[0]}: {exc.strerror or exc}. {INSTALL_HELP}") from None
    if returncode != 0:
        raise CliFailed(error_message(log + stdout, returncode))
    on_progress(100.0)
    return RunResult(stdout, log, time.monotonic() - start)
