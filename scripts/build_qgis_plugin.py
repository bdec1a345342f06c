#!/usr/bin/env python3
"""Build the QGIS plugin zip that QGIS's Plugin Manager installs (Plugins ▸ Install from ZIP).

    python3 scripts/build_qgis_plugin.py [--out dist]

The zip holds one folder, geoclassify_qgis/, with the plugin's code, metadata.txt (its version set to
the version in geoclassify/version.py) and the licence. Plain Python, no dependencies.
"""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "qgis_plugin" / "geoclassify_qgis"
REQUIRED = ("name", "qgisMinimumVersion", "description", "about", "version", "author", "email", "repository",
            "tracker", "homepage", "license")


def project_version() -> str:
    """geoclassify's version, read from geoclassify/version.py (the one place it is set; pyproject reads it too)."""
    match = re.search(r'^__version__\s*=\s*"([^"]+)"', (ROOT / "geoclassify" / "version.py").read_text(), re.MULTILINE)
    if not match:
        raise SystemExit("no __version__ in geoclassify/version.py")
    return match.group(1)


def metadata(version: str) -> str:
    """metadata.txt with `version` stamped in; every key the plugin repository requires must be there."""
    text = (PLUGIN / "metadata.txt").read_text(encoding="utf-8")
    text = re.sub(r"^version=.*$", f"version={version}", text, flags=re.MULTILINE)
    keys = {line.split("=", 1)[0].strip() for line in text.splitlines() if "=" in line}
    missing = [k for k in REQUIRED if k not in keys]
    if missing:
        raise SystemExit(f"metadata.txt lacks {', '.join(missing)}")
    return text


def files() -> list[Path]:
    return sorted(p for p in PLUGIN.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
                  and p.name != "metadata.txt")


def build(out: Path) -> Path:
    version = project_version()
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"geoclassify_qgis-{version}.zip"
    tmp = target.with_name(target.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("geoclassify_qgis/metadata.txt", metadata(version))
        for path in files():
            zf.write(path, f"geoclassify_qgis/{path.relative_to(PLUGIN).as_posix()}")
        zf.write(ROOT / "LICENSE", "geoclassify_qgis/LICENSE")
    tmp.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="folder for the zip (default: dist/)")
    args = parser.parse_args(argv)
    print(build(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
