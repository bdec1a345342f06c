"""Measure the distributed and the resumable predict paths, through the real CLI in fresh processes.

    .venv/bin/python benchmarks/make_large_scene.py --size 6144 -o benchmarks/scenes/naip_6144.tif
    .venv/bin/python benchmarks/bench_distributed.py overhead benchmarks/scenes/naip_6144.tif --repeat 3
    .venv/bin/python benchmarks/bench_distributed.py resume benchmarks/scenes/naip_6144.tif

`overhead`: `geoclassify predict` here and with `--scheduler local:N`, alternated; wall time of the whole
command (interpreter, model, cluster start) and the prediction's own time (from its log line).
`resume`: a full run; a run killed (SIGKILL) at a fraction of the full run's time; its `--resume`.
Prints one JSON line a run, then a summary line. The load average is printed with each run: the machine
may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent / "geoclassify"
WROTE = re.compile(r"wrote \S+ \(.*?; ([\d.]+) s\)")


def run(args: list[str], out: Path) -> dict:
    """One `geoclassify predict` to `out` (removed first): wall time, predict time, load average."""
    out.unlink(missing_ok=True)
    start = time.perf_counter()
    proc = subprocess.run([str(BIN), "predict", *args, "-o", str(out)], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"predict failed: {proc.stderr[-2000:]}")
    found = WROTE.search(proc.stderr)
    return {"wall_s": round(wall, 2), "predict_s": float(found.group(1)) if found else None,
            "load_1min": os.getloadavg()[0]}


def overhead(scene: str, workers: int, repeat: int, extra: list[str]) -> None:
    times: dict[str, list[dict]] = {"local": [], f"local:{workers}": []}
    with tempfile.TemporaryDirectory(dir=Path(scene).parent) as tmp:
        for _ in range(repeat):
            for mode in times:
                args = [scene, "--overwrite", *extra] + ([] if mode == "local" else ["--scheduler", mode])
                result = {"mode": mode, **run(args, Path(tmp) / "out.tif")}
                print(json.dumps(result), flush=True)
                times[mode].append(result)
    med = {m: {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "predict_s")} for m, rs in times.items()}
    local, dist = med["local"], med[f"local:{workers}"]
    print(json.dumps({"summary": "overhead", "scene": scene, "median": med,
                      "wall_ratio": round(dist["wall_s"] / local["wall_s"], 3),
                      "predict_ratio": round(dist["predict_s"] / local["predict_s"], 3)}))


def resume(scene: str, at: float, extra: list[str]) -> None:
    with tempfile.TemporaryDirectory(dir=Path(scene).parent) as tmp:
        out = Path(tmp) / "out.tif"
        full = run([scene, *extra], out)
        print(json.dumps({"run": "full", **full}), flush=True)
        out.unlink()
        proc = subprocess.Popen([str(BIN), "predict", scene, *extra, "-o", str(out)], stderr=subprocess.DEVNULL)
        time.sleep(at * full["wall_s"])
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        manifest = out.with_name(f".{out.name}.partial.json")
        saved = json.loads(manifest.read_text())["progress"] if manifest.exists() else {"windows": 0}
        print(json.dumps({"run": "killed", "after_s": round(at * full["wall_s"], 2),
                          "windows_saved": saved["windows"]}), flush=True)
        resumed = run([scene, *extra, "--resume"], out)
        print(json.dumps({"run": "resumed", **resumed}), flush=True)
    print(json.dumps({"summary": "resume", "scene": scene, "killed_at": at, "full_wall_s": full["wall_s"],
                      "resumed_wall_s": resumed["wall_s"],
                      "saved_s": round(full["wall_s"] - resumed["wall_s"], 2),
                      "saved_fraction_of_full": round(1 - resumed["wall_s"] / full["wall_s"], 3)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["overhead", "resume"])
    ap.add_argument("scene")
    ap.add_argument("--workers", type=int, default=2, help="overhead: local:N workers")
    ap.add_argument("--repeat", type=int, default=3, help="overhead: runs of each mode")
    ap.add_argument("--at", type=float, default=0.5, help="resume: kill at this fraction of the full run's time")
    ap.add_argument("extra", nargs="*", help="more predict options, after --")
    args = ap.parse_args()
    if args.mode == "overhead":
        overhead(args.scene, args.workers, args.repeat, args.extra)
    else:
        resume(args.scene, args.at, args.extra)


if __name__ == "__main__":
    main()
