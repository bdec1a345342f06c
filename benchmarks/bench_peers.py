"""geoclassify side by side with what a user would run instead: whole commands, fresh processes, the same model.

Chip classifier (the bundled agri-s2-rgb, one class per 64-px chip), on the positional SCENES:
- the plain loop a user would write (benchmarks/plain_loop.py: rasterio windows, torch or ONNX Runtime), against
  `geoclassify predict --backend B` for each of --backends;
- with --torchgeo VENV: TorchGeo's RasterDataset + GridGeoSampler + DataLoader loop
  (benchmarks/peers/torchgeo_loop.py, run by that venv's python; torch), against `geoclassify predict --backend
  torch`.
Segmentation (the bundled aerial-landcover U-Net, 256-px tiles), on --seg-scenes:
- with --geodeep VENV: GeoDeep's CLI (`geodeep SCENE MODEL -t mask`, ONNX Runtime) on a GeoDeep copy of the model
  (benchmarks/peers/geodeep_model.py), against `geoclassify predict -m aerial-landcover --backend onnx`;
- with --geoinference VENV: NRCan geo-inference's CLI (`geo_inference -i SCENE -m MODEL -ps 256 -d cpu`,
  TorchScript) on a TorchScript copy of the model (benchmarks/peers/geoinference_model.py), against the same
  with `--backend torch`.
The peers' model files are written by this script (from the bundled weights, with the project's .venv) into a
temporary folder: neither GeoDeep nor geo-inference can fetch its own models here, and the comparison needs the
same weights anyway. Peer venvs: `bash benchmarks/peers/make_venvs.sh` (under /tmp/peers, never the project's).

Each group of commands (a scene, a model, a backend) runs in rounds, the commands alternating, fresh processes,
the first round not counted; medians of: wall seconds; CPU seconds (user + system of the process and all its
descendants, from the rusage of reaped children); peak private memory of the process tree (Private_Clean +
Private_Dirty + Private_Hugetlb from /proc/PID/smaps_rollup, summed over the process and its descendants, sampled
every 50 ms; file pages of libraries that no other process maps count as private) and peak anonymous memory
(heap, arrays, tensors: the part that does not depend on what else runs). Agreement: the share of output pixels
with the same class as geoclassify's output (same backend), and the same over the pixels where geoclassify's top
class probability is at least --sure, 0.9 (from one more, untimed, `geoclassify predict --probabilities`).

Scenes: the chip classifier's mirror-tiled from the shipped NAIP scene at 10 m (its GSD: no resampling); the
U-Net's mirror-tiled from a Dubai image of its held-out test tile (in its domain; the NAIP scene is not, and there
its classes hang on the context: few pixels are sure), georeferenced (geo-inference fails on a scene with no
CRS), 1 m declared (the model has no GSD: nothing resamples):

    for n in 512 4096; do .venv/bin/python benchmarks/make_large_scene.py --size $n --res 10 \\
        -o benchmarks/scenes/naip_${n}_10m.tif; done
    # benchmarks/scenes/dubai/: .venv/bin/python benchmarks/build_dubai_scenes.py
    for n in 512 2048; do .venv/bin/python benchmarks/make_large_scene.py --size $n --res 1 \\
        --source benchmarks/scenes/dubai/tile1_part_001.tif -o benchmarks/scenes/dubai_${n}_1m.tif
        .venv/bin/rio edit-info --crs EPSG:32640 --transform "[1, 0, 300000, 0, -1, 2780000]" \\
        benchmarks/scenes/dubai_${n}_1m.tif; done
    bash benchmarks/peers/make_venvs.sh
    .venv/bin/python benchmarks/bench_peers.py benchmarks/scenes/naip_512_10m.tif benchmarks/scenes/naip_4096_10m.tif \\
        --seg-scenes benchmarks/scenes/dubai_512_1m.tif benchmarks/scenes/dubai_2048_1m.tif \\
        --torchgeo /tmp/peers/torchgeo --geodeep /tmp/peers/geodeep --geoinference /tmp/peers/geoinference
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio

from geoclassify.models.bundled import bundled_path
from geoclassify.models.files import read_model_card

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PEERS = ROOT / "benchmarks" / "peers"
SAMPLE_S = 0.05
MIB = 1024 * 1024


def _tree(root: int) -> list[int]:
    """The process and its live descendants (parents from /proc/PID/stat)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _memory(root: int) -> tuple[int, int]:
    """(private, anonymous) bytes of the process tree now."""
    private = anon = 0
    for pid in _tree(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in ("Private_Clean", "Private_Dirty", "Private_Hugetlb"):
                        private += int(value.split()[0]) * 1024
                    elif key == "Anonymous":
                        anon += int(value.split()[0]) * 1024
        except (OSError, ValueError):
            continue
    return private, anon


def measure(command: list[str], log: Path) -> tuple[float, float, float, float]:
    """(wall s, CPU s of the tree, peak private MiB, peak anonymous MiB) of a command; its output goes to `log`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_private = peak_anon = 0
    with open(log, "w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        while proc.poll() is None:
            private, anon = _memory(proc.pid)
            peak_private, peak_anon = max(peak_private, private), max(peak_anon, anon)
            time.sleep(SAMPLE_S)
        wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{log.read_text()[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, peak_private / MIB, peak_anon / MIB


@dataclass
class Command:
    """A command to time, where its output lands, and what to do before each run (untimed)."""

    label: str
    argv: list[str]
    output: Path | None = None  # None: found by `find` after the run
    find: str | None = None  # a glob in `workdir` for outputs with names of their own
    workdir: Path | None = None
    figures: list[tuple[float, float, float, float]] = field(default_factory=list)

    def prepare(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir.mkdir(parents=True)

    def result(self) -> Path:
        if self.output is not None:
            return self.output
        found = sorted(self.workdir.glob(self.find)) if self.workdir is not None and self.find else []
        if len(found) != 1:
            raise SystemExit(f"{self.label}: expected one output {self.find} in {self.workdir}, found {found}")
        return found[0]


def agreement(reference: Path, sure: np.ndarray, other: Path) -> tuple[float, float]:
    """Share of pixels with the same class, overall and where the reference was sure."""
    with rasterio.open(reference) as a, rasterio.open(other) as b:
        if a.shape != b.shape:
            return float("nan"), float("nan")
        same = a.read(1) == b.read(1)
    return float(same.mean()), float(same[sure].mean()) if sure.any() else float("nan")


def geoclassify(scene: Path, out: Path, model: str, backend: str, *extra: str) -> list[str]:
    return [str(BIN / "geoclassify"), "-q", "predict", str(scene), "-o", str(out), "--overwrite", "-m", model,
            "--backend", backend, *extra]


def run_group(title: tuple[str, str, str], scene: Path, model: str, backend: str, commands: list[Command],
              args: argparse.Namespace, out: Path) -> None:
    """`args.rounds` + 1 rounds of the commands alternating; then the table rows (the first command is
    geoclassify's)."""
    for round_ in range(args.rounds + 1):
        for command in commands:
            command.prepare()
            measured = measure(command.argv, out / "run.log")
            if round_:
                command.figures.append(measured)
    probs = out / "probabilities.tif"
    subprocess.run(geoclassify(scene, out / "sure.tif", model, backend, "--probabilities", str(probs)), check=True)
    with rasterio.open(probs) as src:
        sure = src.read().max(axis=0) >= round(args.sure * 255)
    reference = commands[0].result()
    base_wall = statistics.median(x[0] for x in commands[0].figures)
    for i, command in enumerate(commands):
        wall, cpu, private, anon = (statistics.median(x[k] for x in command.figures) for k in range(4))
        if i:
            same, same_sure = agreement(reference, sure, command.result())
            extra = f"{wall / base_wall:.2f} | {same:.1%} | {same_sure:.1%} of {sure.mean():.0%}"
        else:
            extra = " | | "
        print(f"| {' | '.join(title)} | {command.label} | {wall:.2f} | {cpu:.2f} | {private:.0f} | {anon:.0f} | "
              f"{extra} |", flush=True)


def size_of(scene: Path) -> str:
    with rasterio.open(scene) as src:
        return f"{src.width} x {src.height}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenes", nargs="*", type=Path, help="scenes for the chip classifier (agri-s2-rgb)")
    parser.add_argument("--seg-scenes", nargs="*", type=Path, default=[],
                        help="scenes for the segmentation peers (aerial-landcover)")
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds (one more runs first, not counted)")
    parser.add_argument("--backends", nargs="*", default=["torch", "onnx"], help="plain loop's backends")
    parser.add_argument("--sure", type=float, default=0.9, help="top class probability of a 'sure' pixel")
    parser.add_argument("--torchgeo", type=Path, help="venv with TorchGeo (make_venvs.sh torchgeo)")
    parser.add_argument("--geodeep", type=Path, help="venv with GeoDeep (make_venvs.sh geodeep)")
    parser.add_argument("--geoinference", type=Path, help="venv with geo-inference (make_venvs.sh geoinference)")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench_peers_"))
    # a pip install compiles every module's bytecode; an editable checkout run with PYTHONDONTWRITEBYTECODE (set
    # here) would compile geoclassify's 150 modules again in every process (0.06 s): compile them once, as pip does
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "geoclassify")], check=True)
    chip_model, seg_model = "agri-s2-rgb", "aerial-landcover"
    if args.geodeep:
        subprocess.run([sys.executable, str(PEERS / "geodeep_model.py"), "--model", seg_model,
                        "-o", str(out / "geodeep.onnx")], check=True, stdout=subprocess.DEVNULL)
    classes = len(read_model_card(bundled_path(seg_model)).class_names)
    if args.geoinference:
        subprocess.run([sys.executable, str(PEERS / "geoinference_model.py"), "--model", seg_model,
                        "-o", str(out / "geoinference.pt")], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    print(f"{args.rounds} rounds counted, medians; private / anonymous: peak MiB of the process tree; "
          f"'sure': pixels where geoclassify's top class probability >= {args.sure}; outputs in {out}")
    print()
    print("| scene | model | backend | command | wall s | CPU s | private MiB | anon MiB | wall / geoclassify's "
          "| same class | same class where sure (share sure) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for scene in args.scenes:
        for backend in args.backends:
            commands = [Command("geoclassify predict", geoclassify(scene, out / "gc.tif", chip_model, backend),
                                out / "gc.tif"),
                        Command("plain loop", [sys.executable, str(ROOT / "benchmarks" / "plain_loop.py"), str(scene),
                                               str(out / "plain.tif"), "--model", chip_model, "--backend", backend],
                                out / "plain.tif")]
            if backend == "torch" and args.torchgeo:
                commands.append(Command("TorchGeo GridGeoSampler loop",
                                        [str(args.torchgeo / "bin" / "python"), str(PEERS / "torchgeo_loop.py"),
                                         str(scene), str(out / "torchgeo.tif"), "--model", chip_model],
                                        out / "torchgeo.tif"))
            run_group((size_of(scene), chip_model, backend), scene, chip_model, backend, commands, args, out)
    for scene in args.seg_scenes:
        if args.geodeep:
            commands = [Command("geoclassify predict", geoclassify(scene, out / "gc_seg.tif", seg_model, "onnx"),
                                out / "gc_seg.tif"),
                        Command("GeoDeep", [str(args.geodeep / "bin" / "geodeep"), str(scene),
                                            str(out / "geodeep.onnx"), "-t", "mask", "-o", str(out / "geodeep.tif"),
                                            "--max-threads", "2", "-q"],
                                out / "geodeep.tif")]
            run_group((size_of(scene), seg_model, "onnx"), scene, seg_model, "onnx", commands, args, out)
        if args.geoinference:
            work = out / "geoinference"
            commands = [Command("geoclassify predict", geoclassify(scene, out / "gc_seg.tif", seg_model, "torch"),
                                out / "gc_seg.tif"),
                        Command("geo-inference", [str(args.geoinference / "bin" / "geo_inference"), "-i", str(scene),
                                                  "-m", str(out / "geoinference.pt"), "-wd", str(work), "-ps", "256",
                                                  "-d", "cpu", "-cls", str(classes)],
                                find="*_mask_*.tif", workdir=work)]
            run_group((size_of(scene), seg_model, "torch"), scene, seg_model, "torch", commands, args, out)


if __name__ == "__main__":
    main()
