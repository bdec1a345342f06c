"""Measure the distributed and the resumable predict paths, through the real CLI in fresh processes.

    .venv/bin/python benchmarks/make_large_scene.py --size 6144 -o benchmarks/scenes/naip_6144.tif
    .venv/bin/python benchmarks/bench_distributed.py overhead benchmarks/scenes/naip_6144.tif \
        --predict-args "--stride 32"
    .venv/bin/python benchmarks/bench_distributed.py resume benchmarks/scenes/naip_6144.tif --predict-args "--stride 32"

`overhead`: `geoclassify predict` here and with `--scheduler local:N`, alternated; wall time of the whole
command (interpreter, model, cluster start), the prediction's own time (from its log line) and the CPU
time of the command and all its processes (on a shared machine, less sensitive to the others' load).
`resume`: a full run; a run killed (SIGKILL) when its progress bar passes a fraction; its `--resume`
(default checkpoints: every 10 s, so up to 10 s of work before the kill is lost).
Prints one JSON line a run, then a summary line. The load average is printed with each run: the machine
may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
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
    start, cpu = time.perf_counter(), children_cpu()
    proc = subprocess.run([str(BIN), "predict", *args, "-o", str(out)], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"predict failed: {proc.stderr[-2000:]}")
    found = WROTE.search(proc.stderr)
    return {"wall_s": round(wall, 2), "predict_s": float(found.group(1)) if found else None,
            "cpu_s": round(children_cpu() - cpu, 1), "load_1min": os.getloadavg()[0]}


def children_cpu() -> float:
    """User + system CPU seconds of finished child processes and theirs (the Dask workers of local:N)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def overhead(scene: str, workers: int, repeat: int, extra: list[str]) -> None:
    times: dict[str, list[dict]] = {"local": [], f"local:{workers}": []}
    with tempfile.TemporaryDirectory(dir=Path(scene).parent) as tmp:
        for _ in range(repeat):
            for mode in times:
                args = [scene, "--overwrite", *extra] + ([] if mode == "local" else ["--scheduler", mode])
                result = {"mode": mode, **run(args, Path(tmp) / "out.tif")}
                print(json.dumps(result), flush=True)
                times[mode].append(result)
    med = {m: {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "predict_s", "cpu_s")}
           for m, rs in times.items()}
    local, dist = med["local"], med[f"local:{workers}"]
    print(json.dumps({"summary": "overhead", "scene": scene, "median": med,
                      "wall_ratio": round(dist["wall_s"] / local["wall_s"], 3),
                      "predict_ratio": round(dist["predict_s"] / local["predict_s"], 3),
                      "cpu_ratio": round(dist["cpu_s"] / local["cpu_s"], 3)}))


def kill_at_progress(args: list[str], fraction: float) -> float:
    """Start `geoclassify predict`, SIGKILL it once its progress bar passes `fraction`; returns its wall time."""
    start = time.perf_counter()
    proc = subprocess.Popen([str(BIN), "predict", *args], stderr=subprocess.PIPE, text=True, bufsize=1)
    text = ""
    while proc.poll() is None:
        text = (text + proc.stderr.read(64))[-200:]  # tqdm rewrites its line with \r: keep the tail
        bars = PROGRESS.findall(text)
        if bars and int(bars[-1][0]) >= fraction * int(bars[-1][1]):
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    return time.perf_counter() - start


PROGRESS = re.compile(r"(\d+)/(\d+) \[")


def resume_once(scene: str, at: float, extra: list[str], tmp: Path) -> dict:
    """A full run, a run killed at `at` of its windows, and its --resume."""
    out = tmp / "out.tif"
    full = run([scene, *extra], out)
    out.unlink()
    killed_after = kill_at_progress([scene, *extra, "-o", str(out)], at)
    manifest = out.with_name(f".{out.name}.partial.json")
    saved = json.loads(manifest.read_text())["checkpoint"]["windows"] if manifest.exists() else 0
    resumed = run([scene, *extra, "--resume"], out)
    out.unlink()
    return {"full_wall_s": full["wall_s"], "full_predict_s": full["predict_s"],
            "killed_after_s": round(killed_after, 2),
            "windows_saved": saved, "resumed_wall_s": resumed["wall_s"], "resumed_predict_s": resumed["predict_s"],
            "load_1min": resumed["load_1min"]}


def resume(scene: str, at: float, repeat: int, extra: list[str]) -> None:
    rows = []
    with tempfile.TemporaryDirectory(dir=Path(scene).parent) as tmp:
        for _ in range(repeat):
            rows.append(resume_once(scene, at, extra, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(json.dumps({"summary": "resume", "scene": scene, "killed_at_progress": at, "median": med,
                      "saved_s": round(med["full_wall_s"] - med["resumed_wall_s"], 2),
                      "resumed_over_full_wall": round(med["resumed_wall_s"] / med["full_wall_s"], 3),
                      "resumed_over_full_predict": round(med["resumed_predict_s"] / med["full_predict_s"], 3)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["overhead", "resume"])
    ap.add_argument("scene")
    ap.add_argument("--workers", type=int, default=2, help="overhead: local:N workers")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each mode / full-kill-resume cycles")
    ap.add_argument("--at", type=float, default=0.5, help="resume: kill when this fraction of the windows is done")
    ap.add_argument("--predict-args", default="", help="more predict options, e.g. '--stride 32'")
    args = ap.parse_args()
    extra = shlex.split(args.predict_args)
    if args.mode == "overhead":
        overhead(args.scene, args.workers, args.repeat, extra)
    else:
        resume(args.scene, args.at, args.repeat, extra)


if __name__ == "__main__":
    main()
