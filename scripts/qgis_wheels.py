#!/usr/bin/env python3
"""Wheels for an offline "Set up geoclassify" (the QGIS plugin): the project's own wheel, freshly built, and the
wheels of its core dependencies.

    python scripts/qgis_wheels.py --out DIR [--builder PYTHON]

Writes DIR/project/geoclassify-<version>-py3-none-any.whl, built from this checkout by `pip wheel --no-deps` with
the builder's setuptools (default: .venv/bin/python, made by `make setup`), and fills DIR/deps/ with the wheels of
its core dependencies (the wheel's Requires-Dist without extras, held to constraints.txt where it pins them) for
the Python running this script (the one the set-up will use: same version and platform). DIR/deps/ is a cache:
when it already holds all that the wheel needs, pip resolves against it offline and nothing is downloaded; else
`pip download` fills it from the package index. Prints the wheel's path, then the folder.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[^\s;@]+$")


def _pip(python: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "pip", *args, "--disable-pip-version-check", "--no-input"],
                          capture_output=True, text=True)


def build_wheel(builder: str, out: Path) -> Path:
    """The project's wheel, built from the working tree into `out` (older geoclassify wheels there removed)."""
    isolated = subprocess.run([builder, "-c", "import setuptools, wheel"], capture_output=True).returncode != 0
    with tempfile.TemporaryDirectory() as tmp:
        proc = _pip(builder, "wheel", "--no-deps", *([] if isolated else ["--no-build-isolation"]), "--wheel-dir",
                    tmp, str(ROOT))
        built = sorted(Path(tmp).glob("geoclassify-*.whl"))
        if proc.returncode != 0 or not built:
            raise SystemExit(f"pip wheel failed:\n{proc.stdout}\n{proc.stderr}")
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("geoclassify-*.whl"):
            old.unlink()
        return Path(shutil.move(str(built[0]), out / built[0].name))


def core_requirements(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist lines that no extra asks for."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(name).decode("utf-8")
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    return [r for r in requires if "extra ==" not in r.replace('"', "").replace("'", "")]


def constraints(folder: Path) -> list[str]:
    """pip arguments for constraints.txt's exact pins (name==version lines only), written into `folder`."""
    source = ROOT / "constraints.txt"
    if not source.is_file():
        return []
    pins = [line.strip() for line in source.read_text().splitlines() if PIN.match(line.strip())]
    path = folder / "constraints.txt"
    path.write_text("\n".join(pins) + "\n")
    return ["--constraint", str(path)]


def download_dependencies(wheel: Path, deps: Path) -> bool:
    """Fill `deps` with wheels of the core dependencies; False when they were all there already (offline)."""
    deps.mkdir(parents=True, exist_ok=True)
    requirements = core_requirements(wheel)
    with tempfile.TemporaryDirectory() as tmp:
        pins = constraints(Path(tmp))
        common = ["download", "--only-binary", ":all:", "--dest", str(deps), *pins, *requirements]
        if _pip(sys.executable, *common[:1], "--no-index", "--find-links", str(deps), *common[1:]).returncode == 0:
            return False
        proc = _pip(sys.executable, *common)
    if proc.returncode != 0:
        raise SystemExit(f"pip download failed:\n{proc.stdout}\n{proc.stderr}")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for project/ and deps/")
    parser.add_argument("--builder", default=str(ROOT / ".venv" / "bin" / "python"),
                        help="Python that builds the wheel (default: .venv/bin/python)")
    args = parser.parse_args(argv)
    wheel = build_wheel(args.builder, args.out / "project")
    downloaded = download_dependencies(wheel, args.out / "deps")
    print(wheel)
    print(args.out / "deps")
    print(f"dependencies {'downloaded' if downloaded else 'all cached'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
