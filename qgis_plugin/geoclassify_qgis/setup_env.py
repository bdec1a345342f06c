"""Set up geoclassify from QGIS: a Python environment of its own in the QGIS profile, geoclassify installed by pip.

Plain Python (no QGIS imports), testable on its own; setup_algorithm.py is the Processing algorithm around it.

1. `find_python`: an interpreter to make the environment with: the one given, else the real `python` behind QGIS's
   own Python (QGIS's sys.executable is often QGIS itself; on Windows QGIS ships python.exe in its prefix), else
   python3 / python on PATH. It must be Python 3.11 or newer with venv and ensurepip. The environment is made
   without --system-site-packages, so nothing of QGIS's (or the system's) site-packages is seen in it.
2. The environment is made in a new folder ROOT/env-<date>-<time> (a venv cannot be moved once made, so it is
   made where it stays). It counts only once its marker, geoclassify-setup.json, is written: the last step.
3. `pip install` geoclassify into it (`Source`: the package index, a wheel file, a folder of wheels offline, with
   extras); pip's output lines become steps and a percentage (`PipProgress`).
4. `geoclassify --version` must run in it; then the marker is written.

A cancel kills pip (and what it started) and removes the folder; a failure removes it too and raises SetupError
with pip's own ERROR: lines. A folder without the marker (QGIS died during a set-up) is removed by the next
set-up; one set-up runs at a time per profile (an OS lock on ROOT/.setup.lock).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

from . import runner
from .runner import Canceled, executable_name

MIN_PYTHON = (3, 11)
PREFIX = "env-"
MARKER = "geoclassify-setup.json"
CANCELED = "cancelled: the set-up was stopped; nothing was installed and the geoclassify setting is unchanged"
PROBE = ("import json, sys\n"
         "missing = ''\n"
         "try:\n    import venv, ensurepip\nexcept ImportError as exc:\n    missing = exc.name or 'venv'\n"
         "print(json.dumps({'version': list(sys.version_info[:3]), 'missing': missing}))\n")
EXTRA = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")


class SetupError(Exception):
    """The set-up could not be done; the message says why (pip's own reason where pip failed)."""


def bin_folder(environment: Path) -> Path:
    return environment / ("Scripts" if sys.platform == "win32" else "bin")


# --- what to install ----------------------------------------------------------------------------------------


def parse_extras(text: str) -> tuple[str, ...]:
    """'torch, report' -> ('torch', 'report'); SetupError for a name pip would not take."""
    names = [n for n in re.split(r"[,\s]+", (text or "").strip().strip("[]")) if n]
    bad = [n for n in names if not EXTRA.match(n)]
    if bad:
        raise SetupError(f"not an extra's name: {', '.join(bad)} (give names such as torch, separated by commas)")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Source:
    """Where pip takes geoclassify from: the index (default), a wheel file, and/or a folder of wheels (offline)."""

    wheel: str = ""
    folder: str = ""
    extras: tuple[str, ...] = ()
    index_url: str = ""

    def check(self) -> None:
        """SetupError before any work for a missing file or folder, a file that is no geoclassify wheel, a clash."""
        if self.wheel:
            wheel = Path(self.wheel)
            if not wheel.is_file():
                raise SetupError(f"the wheel file {wheel} does not exist")
            if wheel.suffix.lower() != ".whl" or not wheel.name.lower().startswith("geoclassify-"):
                raise SetupError(f"{wheel.name} is not a geoclassify wheel (geoclassify-<version>-py3-none-any.whl)")
        if self.folder:
            folder = Path(self.folder)
            if not folder.is_dir():
                raise SetupError(f"the folder of wheels {folder} does not exist")
            if not any(folder.glob("*.whl")):
                raise SetupError(f"the folder {folder} holds no wheel files (.whl); for an offline set-up, fill it "
                                 f"on a machine with internet: pip download --dest FOLDER --only-binary :all: "
                                 f"geoclassify")
            if self.index_url:
                raise SetupError("give either a folder of wheels (an offline set-up) or a package index URL, not both")
        if self.index_url and not re.match(r"^(https?|file)://", self.index_url):
            raise SetupError(f"the package index URL {self.index_url} does not start with https://, http:// or "
                             f"file://")

    def requirement(self) -> str:
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        return (os.path.abspath(self.wheel) if self.wheel else "geoclassify") + extras

    def pip_args(self) -> list[str]:
        """What follows `pip install`: where to look, then the requirement."""
        args: list[str] = []
        if self.folder:
            args += ["--no-index", "--find-links", os.path.abspath(self.folder)]
        elif self.wheel:  # its dependencies from the index, or from wheels beside it
            args += ["--find-links", os.path.dirname(os.path.abspath(self.wheel))]
        if self.index_url:
            args += ["--index-url", self.index_url]
        return [*args, self.requirement()]

    def describe(self) -> str:
        what = f"geoclassify[{','.join(self.extras)}]" if self.extras else "geoclassify"
        if self.wheel:
            what += f" from the wheel {Path(self.wheel).name}"
        if self.folder:
            return what + f" with the wheels in {self.folder} (offline, no package index)"
        return what + f" from the package index{' ' + self.index_url if self.index_url else ''}"


# --- a Python to make the environment with ------------------------------------------------------------------


def python_candidates() -> list[Path]:
    """Interpreters to try, best first: QGIS's own Python's executable, then python3 / python on PATH."""
    found: list[Path] = []
    if sys.platform == "win32":  # QGIS (OSGeo4W, standalone) ships python.exe in its Python prefix
        found += [Path(prefix) / "python.exe" for prefix in (sys.base_prefix, sys.exec_prefix, sys.prefix)]
    else:
        version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        found += [Path(sys.base_prefix) / "bin" / version, Path(sys.base_prefix) / "bin" / "python3"]
    for exe in (getattr(sys, "_base_executable", ""), sys.executable):  # inside QGIS these may be QGIS itself
        if exe and Path(exe).name.lower().startswith("python"):
            found.append(Path(exe))
    found += [Path(p) for p in (shutil.which("python3"), shutil.which("python")) if p]
    if sys.platform != "win32":
        found += [Path("/usr/bin/python3"), Path("/usr/local/bin/python3")]
    return list(dict.fromkeys(found))


def check_python(python: Path) -> tuple[tuple[int, ...], str]:
    """(version, '' or why it cannot make geoclassify's environment)."""
    if not python.is_file():
        return (), "not found"
    try:
        proc = subprocess.run([str(python), "-c", PROBE], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=60, env=runner.cli_environment(), **runner.popen_options())
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        version = tuple(int(v) for v in info["version"])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError, KeyError, TypeError) as exc:
        return (), f"does not run as Python ({exc.__class__.__name__})"
    if version < MIN_PYTHON:
        return version, f"Python {'.'.join(map(str, version))}, geoclassify needs {'.'.join(map(str, MIN_PYTHON))}+"
    if info.get("missing"):
        return version, (f"no module {info['missing']} (on Debian or Ubuntu: sudo apt install python3-venv)")
    return version, ""


def find_python(explicit: str = "") -> tuple[Path, str]:
    """(interpreter, its version) to make the environment with; SetupError listing what was tried and why not."""
    candidates = [Path(os.path.expanduser(explicit))] if explicit else python_candidates()
    tried = []
    for python in candidates:
        version, problem = check_python(python)
        if not problem:
            return python, ".".join(map(str, version))
        tried.append(f"{python} ({problem})")
    wanted = "the Python interpreter given" if explicit else f"a Python {'.'.join(map(str, MIN_PYTHON))} or newer"
    raise SetupError(f"cannot make geoclassify's Python environment with {wanted}: tried {'; '.join(tried)}. Install "
                     f"Python {'.'.join(map(str, MIN_PYTHON))}+ (python.org, or your system's packages with venv) and "
                     f"give it as the Python interpreter in the set-up's advanced parameters")


# --- pip's output as progress -------------------------------------------------------------------------------


class PipProgress:
    """pip's output lines as steps and a percentage of the whole set-up.

    10-50 %: pip collects packages (each one brings the bar closer to 50 %, their number is not known in advance);
    50-95 %: it installs the packages it named in "Installing collected packages: ..." (counted as their
    .dist-info folders appear in site-packages); 95 %: "Successfully installed"; the rest is the check.
    """

    COLLECT, INSTALL, DONE = 10.0, 50.0, 95.0

    def __init__(self, site_packages: Path | None = None) -> None:
        self.site_packages = site_packages
        self.baseline = self._installed()
        self.collected = 0
        self.to_install = 0
        self.percent = self.COLLECT

    def _installed(self) -> int:
        if self.site_packages is None or not self.site_packages.is_dir():
            return 0
        return sum(1 for _ in self.site_packages.glob("*.dist-info"))

    def feed(self, line: str) -> str | None:
        """Take one pip line (the percentage moves); return a step to show, or None (pip's line says it all)."""
        text = line.strip()
        if re.match(r"^(?:Collecting|Processing) \S", text):
            self.collected += 1
            self.percent = self.COLLECT + (self.INSTALL - self.COLLECT) * (1 - 0.9 ** self.collected)
        elif text.startswith("Installing collected packages:"):
            self.to_install = len([p for p in text.split(":", 1)[1].split(",") if p.strip()])
            self.percent = self.INSTALL
            return f"installing {self.to_install} packages"
        elif text.startswith("Successfully installed"):
            self.percent = self.DONE
            return "installed"
        return None

    def poll(self) -> float:
        """The percentage, counting the packages installed so far."""
        if self.to_install and self.percent < self.DONE:
            done = min(self.to_install, max(0, self._installed() - self.baseline))
            self.percent = max(self.percent, self.INSTALL + (self.DONE - self.INSTALL) * done / self.to_install)
        return self.percent


def pip_reason(lines: list[str]) -> str:
    """pip's reason for a failure: its ERROR: lines (and what it printed between them), else its last lines."""
    text = [line.rstrip() for line in lines if line.strip()]
    first = next((i for i, line in enumerate(text) if line.startswith("ERROR:")), None)
    if first is None:
        return "\n".join(text[-10:]) or "no output"
    last = max(i for i, line in enumerate(text) if line.startswith("ERROR:"))
    picked = text[first:last + 1]
    picked = picked if len(picked) <= 15 else [line for line in picked if line.startswith("ERROR:")]
    return "\n".join(line[len("ERROR:"):].strip() if line.startswith("ERROR:") else line for line in picked)


# --- the set-up ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    environment: Path
    cli: Path
    version: str
    python: Path
    seconds: float


@dataclass
class Callbacks:
    """How the set-up reports: steps, a percentage, pip's lines, and whether it was cancelled."""

    on_step: Callable[[str], None] = lambda step: None
    on_progress: Callable[[float], None] = lambda percent: None
    on_log: Callable[[str], None] = lambda line: None
    is_canceled: Callable[[], bool] = lambda: False
    folder: str | None = None  # where the programs run (install: ROOT)


@contextmanager
def one_setup_at_a_time(root: Path) -> Iterator[None]:
    """An OS lock on ROOT/.setup.lock (it dies with the process); SetupError if another set-up holds it."""
    handle = open(root / ".setup.lock", "a+")  # noqa: SIM115 (held for the with block)
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise SetupError(f"another set-up of geoclassify is running in {root}; wait until it has finished") from None
    try:
        yield
    finally:
        handle.close()


def environments(root: Path) -> list[Path]:
    return sorted(p for p in root.glob(PREFIX + "*") if p.is_dir())


def remove_incomplete(root: Path) -> list[Path]:
    """Remove the environment folders of set-ups that never finished (no marker)."""
    removed = [p for p in environments(root) if not (p / MARKER).is_file()]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def remove_previous(root: Path, keep: Path) -> list[Path]:
    """Remove the finished environments of earlier set-ups in ROOT, all but `keep`.

    Only folders this module made and finished (with the marker), under the set-up lock: a set-up running in
    another QGIS keeps its folder (and while one runs, nothing is removed: [] is returned).
    """
    try:
        with one_setup_at_a_time(root):
            removed = [p for p in environments(root) if (p / MARKER).is_file() and p.resolve() != keep.resolve()]
            for path in removed:
                shutil.rmtree(path, ignore_errors=True)
    except SetupError:
        return []
    return removed


def folder_size(folder: Path) -> int:
    """Bytes of the files under a folder (links not followed)."""
    total = 0
    for dirpath, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def _new_folder(root: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 100):
        path = root / f"{PREFIX}{stamp}{'' if n == 1 else f'-{n}'}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise SetupError(f"cannot make a new folder in {root}")


def _run(argv: list[str], calls: Callbacks, on_line: Callable[[str], None],
         on_poll: Callable[[], None] = lambda: None) -> tuple[int, list[str]]:
    """Run a step's program (cancellable) in the folder of the environments (not QGIS's working folder, where a
    folder named geoclassify could stand for the package); (exit code, its output lines)."""
    lines: list[str] = []

    def take(tag: str, line: str) -> None:
        lines.append(line)
        on_line(line)

    calls.on_log(shlex.join(argv))
    try:
        code = runner.stream_process(argv, take, is_canceled=calls.is_canceled, canceled_message=CANCELED,
                                     on_poll=on_poll, cwd=calls.folder)
    except OSError as exc:
        raise SetupError(f"cannot start {argv[0]}: {exc.strerror or exc}") from None
    return code, lines


def _site_packages(environment: Path) -> Path | None:
    found = sorted(environment.glob("lib/python*/site-packages")) + sorted(environment.glob("Lib/site-packages"))
    return found[0] if found else None


def _make_environment(python: Path, environment: Path, calls: Callbacks) -> Path:
    calls.on_step(f"making a Python environment in {environment}")
    code, lines = _run([str(python), "-m", "venv", str(environment)], calls, calls.on_log)
    env_python = bin_folder(environment) / executable_name("python")
    if code != 0 or not env_python.is_file():
        raise SetupError(f"{python} could not make a Python environment in {environment}: {pip_reason(lines)}")
    calls.on_progress(PipProgress.COLLECT)
    return env_python


def _pip_install(env_python: Path, environment: Path, source: Source, calls: Callbacks) -> None:
    calls.on_step(f"installing {source.describe()}")
    progress = PipProgress(_site_packages(environment))
    last_poll = [0.0]

    def on_line(line: str) -> None:
        calls.on_log(line)
        step = progress.feed(line)
        if step:
            calls.on_step(step)
        calls.on_progress(progress.percent)

    def on_poll() -> None:
        if time.monotonic() - last_poll[0] >= 0.5:
            last_poll[0] = time.monotonic()
            calls.on_progress(progress.poll())

    argv = [str(env_python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
            "--progress-bar", "off", *source.pip_args()]
    code, lines = _run(argv, calls, on_line, on_poll)
    if code != 0:
        raise SetupError(f"pip could not install {source.describe()}: {pip_reason(lines)}")


def _check_cli(environment: Path, calls: Callbacks) -> tuple[Path, str]:
    calls.on_step("checking the geoclassify command")
    cli = bin_folder(environment) / executable_name("geoclassify")
    code, lines = _run([str(cli), "--version"], calls, calls.on_log)
    if code != 0:
        raise SetupError(f"geoclassify was installed but does not run: {runner.error_message(lines, code)}")
    return cli, (lines[-1].split()[-1] if lines else "?")


def install(source: Source, root: Path, python: str = "", calls: Callbacks | None = None) -> Installed:
    """Make a new environment in ROOT with geoclassify from `source`; on failure or cancel, nothing is left.

    Raises SetupError (with pip's reason) or Canceled.
    """
    calls = replace(calls or Callbacks(), folder=str(root))
    source.check()
    start = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    with one_setup_at_a_time(root):
        for path in remove_incomplete(root):
            calls.on_log(f"removed {path}, left by a set-up that did not finish")
        calls.on_step("finding a Python interpreter")
        interpreter, version = find_python(python)
        calls.on_log(f"Python {version}: {interpreter}")
        if calls.is_canceled():
            raise Canceled(CANCELED)
        environment = _new_folder(root)
        try:
            env_python = _make_environment(interpreter, environment, calls)
            _pip_install(env_python, environment, source, calls)
            cli, geoclassify_version = _check_cli(environment, calls)
            seconds = time.monotonic() - start
            (environment / MARKER).write_text(json.dumps({
                "geoclassify": geoclassify_version, "source": source.describe(), "extras": list(source.extras),
                "python": str(interpreter), "python_version": version, "seconds": round(seconds, 1),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=1), encoding="utf-8")
        except BaseException:
            shutil.rmtree(environment, ignore_errors=True)
            raise
    calls.on_progress(100.0)
    return Installed(environment, cli, geoclassify_version, interpreter, seconds)
