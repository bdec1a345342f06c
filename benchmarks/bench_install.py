"""The core install against the full one: venv size, install time, and `geoclassify predict` start-up and memory.

Builds the wheel from this checkout, installs it without extras into a fresh venv (its dependencies from the
package index or pip's cache, as a user's `pip install geoclassify` gets them), and compares it with a full
environment (default: the project's .venv from `make setup`, every extra). Then it runs `geoclassify predict` on
the demo scene in fresh processes, alternating: the core (ONNX Runtime), the full install with `--backend torch`
and the full install's default; wall time and peak RSS from /usr/bin/time, medians printed. Also the start-up
alone: a fresh Python that imports geoclassify and loads the default model with that backend (`load_predictor`).

    .venv/bin/python benchmarks/bench_install.py --rounds 5
    .venv/bin/python benchmarks/bench_install.py --extras    # also each extra's size over the core (minutes)
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENE = ROOT / "examples" / "data" / "naip_farmland.tif"


def size_mb(folder: Path) -> float:
    return int(subprocess.run(["du", "-sk", str(folder)], capture_output=True, text=True,
                              check=True).stdout.split()[0]) / 1024


def timed_run(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of a command, from /usr/bin/time."""
    proc = subprocess.run(["/usr/bin/time", "-f", "%e %M", *command], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{command} failed: {proc.stderr[-2000:]}")
    wall, rss_kb = proc.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss_kb) / 1024


def extra_sizes(wheel: Path, work: Path, core_mb: float) -> None:
    """Each extra of the wheel in a fresh venv of its own, pinned by constraints.txt: its size over the core."""
    for extra in ("torch", "train", "keras", "distributed", "report", "quantize", "pretrained", "all"):
        env = work / f"extra_{extra}"
        start = time.perf_counter()
        venv.EnvBuilder(with_pip=True).create(env)
        subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "-c", str(ROOT / "constraints.txt"), f"{wheel}[{extra}]"], check=True)
        seconds = time.perf_counter() - start
        total = size_mb(env)
        print(f"[{extra}]: venv {total:.0f} MiB, +{total - core_mb:.0f} MiB over the core, in {seconds:.0f} s")
        subprocess.run(["rm", "-rf", str(env)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", type=Path, default=ROOT / ".venv", help="A venv with every extra.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--extras", action="store_true",
                        help="Also install each extra into a venv of its own (pinned by constraints.txt) and print "
                             "its size over the core, and the time of installing [all].")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_install_"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(work), str(ROOT)], check=True)
    (wheel,) = work.glob("geoclassify-*.whl")
    core = work / "core"
    start = time.perf_counter()
    venv.EnvBuilder(with_pip=True).create(core)
    subprocess.run([str(core / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    str(wheel)], check=True)
    install_s = time.perf_counter() - start
    print(f"wheel {wheel.name}: {wheel.stat().st_size / 1e6:.1f} MB")
    print(f"core venv: {size_mb(core):.0f} MiB, created and installed in {install_s:.0f} s")
    print(f"full venv ({args.full}): {size_mb(args.full):.0f} MiB")
    packages = sorted(((size_mb(p), p.name) for p in (core / "lib").glob("python3*/site-packages/*")
                       if p.is_dir()), reverse=True)[:10]
    print("largest in the core venv: " + ", ".join(f"{name} {mb:.0f}" for mb, name in packages))

    if args.extras:
        extra_sizes(wheel, work, size_mb(core))
    out = work / "out.tif"
    commands = {
        "core (ONNX Runtime)": [str(core / "bin" / "geoclassify")],
        "full --backend torch": [str(args.full / "bin" / "geoclassify"), "--backend", "torch"],
        "full (default backend)": [str(args.full / "bin" / "geoclassify")],
    }
    figures: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
    startup: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
    for _ in range(args.rounds + 1):  # the first round warms the file cache and is not counted
        for label, command in commands.items():
            exe, *backend = command
            figures[label].append(timed_run([exe, "-q", "predict", str(SCENE), "-o", str(out), "--stride", "16",
                                             "--overwrite", *backend]))
            python = str(Path(exe).parent / "python")
            chosen = backend[1] if backend else "auto"
            startup[label].append(timed_run([python, "-c", "from geoclassify.inference.predictor import "
                                             f"load_predictor; load_predictor(None, backend={chosen!r})"]))
    print(f"\n{args.rounds} rounds (medians): `geoclassify predict {SCENE.name} --stride 16`, and start-up alone "
          "(import geoclassify, load the default model)")
    print("| install | predict wall s | predict peak RSS MiB | start-up s | start-up peak RSS MiB |")
    print("|---|---|---|---|---|")
    for label in commands:
        row = [statistics.median(x[i] for x in runs[1:]) for runs in (figures[label], startup[label]) for i in (0, 1)]
        print(f"| {label} | {row[0]:.2f} | {row[1]:.0f} | {row[2]:.2f} | {row[3]:.0f} |")


if __name__ == "__main__":
    main()
