"""Where finished output rows go: the classes raster and the probabilities raster, and the progress in windows."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import replace

import numpy as np

from geoclassify.errors import OutputError
from geoclassify.geo.grid import Grid
from geoclassify.inference.config import PredictConfig, SceneOutputs
from geoclassify.inference.layouts import OutputRows, Strip
from geoclassify.inference.resume import Checkpoint, partial_path
from geoclassify.inference.runners import StripOutput
from geoclassify.io.writer import CLASS_NODATA, RasterWriter
from geoclassify.models.card import ModelCard
from geoclassify.progress import ProgressBar


class OutputSink:
    """Writes finished rows: classes (uint8, nodata 255) and optional probabilities (uint8 x 255 or float32 with
    NaN on nodata), to the partial files of a resumable run (`resume` reopens them).

    Raises:
        OutputError: a raster cannot be created (see RasterWriter).
    """

    def __init__(self, outputs: SceneOutputs, grid: Grid, card: ModelCard, config: PredictConfig,
                 resume: bool = False):
        self.outputs = outputs
        self.counts = np.zeros(card.num_classes, dtype=np.int64)
        self.classes = RasterWriter(str(outputs.classes), grid, 1, "uint8", nodata=CLASS_NODATA,
                                    class_names=list(card.class_names), colors=list(card.class_colors),
                                    cog=config.cog, overwrite=config.overwrite,
                                    partial=partial_path(outputs.classes), resume=resume)
        self.probs = None
        self.prob_dtype = config.probabilities_dtype
        if outputs.probabilities is not None:
            nodata = float("nan") if self.prob_dtype == "float32" else None
            try:
                self.probs = RasterWriter(str(outputs.probabilities), grid, card.num_classes, self.prob_dtype,
                                          nodata=nodata, band_names=list(card.class_names), cog=config.cog,
                                          overwrite=config.overwrite, partial=partial_path(outputs.probabilities),
                                          resume=resume)
            except BaseException:
                if resume:  # keep the classes partial for a later --resume
                    with suppress(OutputError):
                        self.classes.close()
                else:
                    self.classes.abort()
                raise

    def write(self, rows: OutputRows) -> None:
        """Write finished rows: classes by argmax (nodata where not valid), counted per class, and probabilities."""
        classes = np.argmax(rows.probs, axis=0).astype(np.uint8)
        classes[~rows.valid] = CLASS_NODATA
        self.counts += np.bincount(classes[rows.valid], minlength=len(self.counts))
        self.classes.write(classes, rows.row)
        if self.probs is not None:
            if self.prob_dtype == "uint8":
                scaled = np.round(rows.probs * 255).astype(np.uint8)
                self.probs.write(scaled, rows.row, mask=rows.valid)
            else:
                p = rows.probs.astype(np.float32, copy=True)
                p[:, ~rows.valid] = np.nan
                self.probs.write(p, rows.row)

    def writers(self) -> list[RasterWriter]:
        """The open raster writers: classes, then probabilities when asked for."""
        return [w for w in (self.classes, self.probs) if w is not None]

    def checkpoint(self) -> None:
        """Save what each partial raster holds so far (see RasterWriter.checkpoint)."""
        for w in self.writers():
            w.checkpoint()

    def finish(self) -> SceneOutputs:
        """Finish every raster: all that may fail (flushing GDAL's blocks, COG copies, sidecars), nothing published
        yet. Returns where the finished rasters are now (their temporary files), to be read before `publish`.

        Raises:
            OutputError: a raster could not be finished (the file and the cause named).
        """
        for w in reversed(self.writers()):
            w.finish()
        return replace(self.outputs, classes=self.classes.finished_file,
                       probabilities=self.probs.finished_file if self.probs is not None else None)

    def publish(self) -> None:
        """Move the finished rasters into place, the classes raster last. Should a rename fail (an I/O error), the
        rasters this call published are removed again.

        Raises:
            OutputError: a raster could not be published.
        """
        writers = list(reversed(self.writers()))
        try:
            for w in writers:
                w.publish()
        except BaseException:
            for w in writers:
                w.unpublish()
            raise

    def commit(self) -> None:
        """`finish` every raster, then `publish` them: one that cannot be finished leaves all unpublished."""
        self.finish()
        self.publish()

    def close(self) -> None:
        """Close the partial rasters and keep them, for a later --resume.

        Raises:
            OutputError: a raster could not be saved (after closing the others).
        """
        failed: BaseException | None = None
        for w in self.writers():
            try:
                w.close()
            except BaseException as exc:
                failed = failed or exc
        if failed is not None:
            raise failed

    def abort(self) -> None:
        """Close and delete the partial rasters: nothing is published."""
        for w in self.writers():
            w.abort()


class WindowProgress:
    """The progress bar in windows: advanced per batch where the runner reports batches (local runs), else per
    strip; windows of an earlier, interrupted run count from the start."""

    def __init__(self, bar: ProgressBar, done: Checkpoint):
        self.bar, self.resumed_strips, self.counted = bar, done.strips_done, 0
        if done.windows:
            bar.update(done.windows)

    def batch(self, strip: Strip, windows: int) -> None:
        """Count a batch of `windows` of `strip`, unless the strip is replayed to rebuild the blend strip."""
        if strip.index >= self.resumed_strips:  # not a strip replayed to rebuild a blend strip
            self.bar.update(windows)
            self.counted += windows

    def strip_done(self, out: StripOutput) -> None:
        """Count the strip's windows that no batch reported, and start counting the next strip."""
        self.bar.update(out.windows - self.counted)
        self.counted = 0
