"""Many scenes in one run: inputs from arguments, globs and list files, one output set per scene, a summary.

Outputs are named after each input (`NAME_classes.tif`, `NAME_probabilities.tif`, `NAME_classes.gpkg`) in
the output folders. Every problem that can be seen before the work starts (colliding names, outputs that
exist) is refused then; a scene that fails during the run is reported and the others go on.
"""

from __future__ import annotations

import glob
import logging
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from geoclassify.errors import ConfigError, GeoclassifyError, InputError, OutputError
from geoclassify.inference.config import PredictConfig, SceneOutputs
from geoclassify.inference.pipeline import PredictResult, finished, log_result, output_targets, predict_scene
from geoclassify.inference.runners import Runner
from geoclassify.io.identity import is_local_path
from geoclassify.io.paths import Source, check_folder, refuse_clashes, scene_sources
from geoclassify.progress import SILENT, ProgressReporter

if TYPE_CHECKING:
    from geoclassify.vector.polygonize import PolygonizeOptions

log = logging.getLogger("geoclassify")

GLOB_CHARS = "*?["


def is_glob(arg: str) -> bool:
    """Whether a scene argument is a glob pattern: it holds *, ? or [ and is not the name of an existing file nor a
    URL (whose ? starts its query)."""
    return any(c in arg for c in GLOB_CHARS) and is_local_path(arg) and not Path(arg).exists()


def read_list(path: str) -> list[str]:
    """Scene paths or globs, one a line; blank lines and lines starting with # are skipped."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise InputError(f"cannot read the scene list {path}: {exc.strerror}") from None
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def expand_inputs(args: list[str]) -> list[str]:
    """Expand globs (sorted), keep the order otherwise, and drop repeats of the same file."""
    scenes: list[str] = []
    for arg in args:
        if is_glob(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                raise InputError(f"no file matches {arg}")
            scenes.extend(matches)
        else:
            scenes.append(arg)
    seen: set[str] = set()
    unique = []
    for s in scenes:
        key = str(Path(s).resolve()) if is_local_path(s) else s
        if key not in seen:
            seen.add(key)
            unique.append(s)
    return unique


@dataclass(frozen=True)
class SceneJob:
    """One scene and the files it writes."""

    scene: str
    outputs: SceneOutputs


def plan_jobs(scenes: list[str], out_dir: Path, prob_dir: Path | None = None, vector_dir: Path | None = None,
              vector_ext: str = ".gpkg") -> list[SceneJob]:
    """Name every scene's outputs after it; refuse two scenes that would write the same file."""
    jobs: list[SceneJob] = []
    owners: dict[Path, str] = {}
    for scene in scenes:
        stem = Path(scene).stem
        job = SceneJob(scene, SceneOutputs(out_dir / f"{stem}_classes.tif",
                                           prob_dir / f"{stem}_probabilities.tif" if prob_dir else None,
                                           vector_dir / f"{stem}_classes{vector_ext}" if vector_dir else None))
        for f in job.outputs.files:
            if f in owners:
                raise ConfigError(f"{owners[f]} and {scene} would both write {f}; give the scenes different "
                                  "names or predict them into different folders")
            owners[f] = scene
        jobs.append(job)
    return jobs


def check_jobs(jobs: list[SceneJob], config: PredictConfig, polygons: PolygonizeOptions | None = None,
               inputs: Sequence[Source] = ()) -> None:
    """Refuse, before any work starts, outputs that clash with an input or with each other, folders that cannot be
    written, and existing outputs (with --resume, finished scenes are skipped instead).

    Args:
        jobs: the scenes and their outputs.
        config: the prediction's options (overwrite, resume).
        polygons: the polygon options of the vector outputs, if any.
        inputs: inputs besides the scenes (the model files, the scene list).

    Raises:
        PathClashError: an output of a scene (or a file it writes) is a scene of the batch, a file a scene reads, one
            of `inputs`, or a file of another output.
        OutputError: an output folder cannot be created or written; outputs exist, without --overwrite or --resume
            (all of them are named, up to three).
        ConfigError: bad polygon options.
    """
    targets = [t for job in jobs for t in output_targets(job.outputs)]
    refuse_clashes([*inputs, *(s for job in jobs for s in scene_sources(job.scene))], targets)
    for target in targets:
        check_folder(target, create=True)
    if not config.overwrite:
        existing = [f for job in jobs if not (config.resume and finished(job.outputs))
                    for f in job.outputs.files if f.exists()]
        if existing:
            more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
            raise OutputError(f"output(s) {', '.join(map(str, existing[:3]))}{more} exist; use --overwrite to "
                              "replace them, or --resume to continue an interrupted batch")
    if polygons is not None:
        polygons.check()


@dataclass
class SceneReport:
    """One row of the summary."""

    scene: str
    size: str = "-"
    seconds: float = 0.0
    classes: str = "-"
    status: str = "ok"

    @property
    def failed(self) -> bool:
        """Whether the scene failed."""
        return self.status.startswith("failed")


def class_shares(counts: dict[str, int]) -> str:
    """The classes found, with their share of the valid pixels, largest first (e.g. "crop 75%, forest 25%")."""
    total = sum(counts.values())
    if not total:
        return "none (all nodata)"
    found = sorted(((n, name) for name, n in counts.items() if n), reverse=True)
    return ", ".join(f"{name} {100 * n / total:.0f}%" for n, name in found)


def run_jobs(jobs: list[SceneJob], runner: Runner, config: PredictConfig, polygons: PolygonizeOptions | None = None,
             progress: ProgressReporter = SILENT, verbose: bool = False) -> list[SceneReport]:
    """Predict every scene (and polygonize it, where it has a vector output); a failing scene is reported and the
    rest go on.

    Ctrl-C stops the batch; a scene interrupted then resumes with --resume, finished ones are skipped.
    """
    reports = []
    for i, job in enumerate(jobs, start=1):
        report = SceneReport(job.scene)
        reports.append(report)
        log.info("[%d/%d] %s", i, len(jobs), job.scene)
        start = time.perf_counter()
        try:
            result = predict_scene(job.scene, job.outputs, runner, config, polygons, progress)
            log_result(result)
            if result.done_earlier:
                report.status = "done earlier"
            else:
                report.size, report.classes = scene_size(result), class_shares(result.class_counts)
                report.status = "ok (resumed)" if result.resumed_windows else "ok"
        except GeoclassifyError as exc:
            report.status = f"failed: {exc}"
        except Exception as exc:  # noqa: BLE001 - one scene's unexpected failure must not stop the batch
            if verbose:
                traceback.print_exc()
            report.status = f"failed: {type(exc).__name__}: {exc}"
        report.seconds = time.perf_counter() - start
        if report.failed:
            log.error("%s %s", job.scene, report.status)
    return reports


def scene_size(result: PredictResult) -> str:
    """The scene's size in pixels as WIDTHxHEIGHT."""
    return f"{result.scene_width}x{result.scene_height}"


def summary_table(reports: list[SceneReport]) -> str:
    """A plain-text table: scene, size, time, classes found, status."""
    rows = [("scene", "size", "time", "classes found", "status")]
    rows += [(r.scene, r.size, f"{r.seconds:.1f} s", r.classes, r.status) for r in reports]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    failed = sum(r.failed for r in reports)
    lines.append(f"{len(reports) - failed} of {len(reports)} scenes done" + (f", {failed} failed" if failed else ""))
    return "\n".join(lines)
