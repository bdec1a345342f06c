"""`geoclassify evaluate` on a scene with a label raster: predict, then compare window by window.

The scene is classified with the predict pipeline (streamed, bounded memory) into `prediction.tif`
in the report folder. The label raster is warped onto the prediction's grid (for chip classifiers, each
output pixel takes the majority class of its stride x stride labelled pixels) and read one block
at a time, so memory is bounded by a block, never by the scene.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from geoclassify.errors import InputError
from geoclassify.io.raster import open_dataset
from geoclassify.io.writer import CLASS_NODATA
from geoclassify.models.card import ModelCard
from geoclassify.progress import SILENT, ProgressReporter
from geoclassify.reports import plots
from geoclassify.reports.document import Report, Table, write_report
from geoclassify.reports.metrics import pixel_metrics
from geoclassify.reports.sources import align_classes

if TYPE_CHECKING:
    from geoclassify.inference.config import PredictConfig
    from geoclassify.inference.predictor import Predictor

log = logging.getLogger("geoclassify")

IGNORE = 255  # unlabelled pixels (the training code's IGNORE value)
LOCAL_CRS = "EPSG:3857"  # stands in for both rasters of a pair without georeferencing (same pixel grid)
PREVIEW_PIXELS = 600


class LabelReader:
    """Class indexes of a label raster on the prediction's grid, block by block (IGNORE where unlabelled).

    Labels are warped (nearest) onto the prediction grid refined by `factor` (the stride of a chip
    classifier, 1 for segmentation), mapped to classes, and each output pixel takes the majority class
    of its `factor` x `factor` labelled pixels.
    """

    def __init__(self, labels: str, scene: str, prediction, card: ModelCard, mapping_path: str | None, factor: int):
        self.mapping = None
        if mapping_path:
            from geoclassify.training.class_mapping import load_class_mapping

            mapping = load_class_mapping(mapping_path)
            order = align_classes(mapping.class_names, card, f"class mapping {mapping_path}")
            lut = mapping.lut.copy()
            known = (lut >= 0) & (lut != IGNORE)
            lut[known] = order[lut[known]]
            self.mapping = replace(mapping, lut=lut)  # codes -> the model's class indexes
        self.num_classes, self.factor, self.where = card.num_classes, factor, labels
        self.src = open_dataset(labels)
        with open_dataset(scene) as image:
            from geoclassify.training.scenes import ScenePair, check_overlap

            check_overlap(image, self.src, ScenePair(scene, labels))
        georeferenced = self.src.crs is not None
        self.vrt = WarpedVRT(self.src, src_crs=None if georeferenced else LOCAL_CRS,
                             crs=prediction.crs if georeferenced else LOCAL_CRS,
                             transform=prediction.transform * Affine.scale(1 / factor), width=prediction.width * factor,
                             height=prediction.height * factor, add_alpha=True, resampling=Resampling.nearest)

    def to_classes(self, codes: np.ndarray) -> np.ndarray:
        """Label codes (any shape) to the model's class indexes, uint8, through the class mapping if one is given.

        Raises:
            InputError: a code is not a class index of the model (without a mapping), or not in the mapping.
        """
        if self.mapping is not None:
            return self.mapping.apply(codes, self.where)
        bad = (codes >= self.num_classes) & (codes != IGNORE)
        if bad.any():
            raise InputError(f"{self.where}: label values {sorted(np.unique(codes[bad]).tolist())[:10]} are not class "
                             f"indexes 0-{self.num_classes - 1} of the model; give --class-mapping to map codes")
        return codes.astype(np.uint8)

    def read_fine(self, window=None, out_shape=None) -> np.ndarray:
        """Class indexes on the refined grid (or decimated to `out_shape`), IGNORE where unlabelled."""
        kwargs = {"window": window, "out_shape": out_shape}
        codes = self.vrt.read(1, **kwargs)
        valid = self.vrt.read(self.vrt.count, **kwargs) > 0
        if self.src.nodata is not None:
            valid &= codes != self.src.nodata
        classes = np.full(codes.shape, IGNORE, dtype=np.uint8)
        classes[valid] = self.to_classes(codes[valid])
        return classes

    def read(self, window: Window) -> np.ndarray:
        """The majority class of each output pixel of a prediction window."""
        f = self.factor
        fine = self.read_fine(Window(window.col_off * f, window.row_off * f, window.width * f, window.height * f))
        return block_majority(fine, f, self.num_classes)

    def close(self) -> None:
        """Close the warped view and the label raster."""
        self.vrt.close()
        self.src.close()


def block_majority(classes: np.ndarray, f: int, n: int) -> np.ndarray:
    """(h * f, w * f) classes -> (h, w) majority class of each f x f block (IGNORE not voting; ties: lowest)."""
    if f == 1:
        return classes
    h, w = classes.shape[0] // f, classes.shape[1] // f
    blocks = classes.reshape(h, f, w, f).transpose(0, 2, 1, 3).reshape(h, w, f * f)
    votes = np.stack([(blocks == k).sum(-1) for k in range(n)], axis=-1)
    majority = votes.argmax(-1).astype(np.uint8)
    majority[votes.sum(-1) == 0] = IGNORE
    return majority


def confusion_by_blocks(prediction, labels: LabelReader, n: int) -> np.ndarray:
    """The confusion matrix (rows: truth) over the prediction's blocks, skipping nodata and unlabelled pixels."""
    from geoclassify.training.metrics import confusion

    cm = np.zeros((n, n), dtype=np.int64)
    for _, window in prediction.block_windows(1):
        pred = prediction.read(1, window=window)
        truth = labels.read(window=window)
        valid = (pred != CLASS_NODATA) & (truth != IGNORE)
        cm += confusion(truth[valid].astype(np.int64), pred[valid].astype(np.int64), n)
    return cm


def palette(card: ModelCard) -> np.ndarray:
    """(256, 3) uint8 RGB of each class index (the card's colours; black beyond the classes, nodata included)."""
    table = np.zeros((256, 3), dtype=np.uint8)
    table[: card.num_classes] = np.asarray(card.class_colors, dtype=np.uint8)
    return table


def stretch(image: np.ndarray) -> np.ndarray:
    """(bands, h, w) -> (h, w, 3) uint8, each band stretched between its 2nd and 98th percentiles."""
    bands = [image[min(i, len(image) - 1)].astype(np.float32) for i in range(3)]
    out = []
    for band in bands:
        lo, hi = np.percentile(band, [2, 98])
        out.append(np.clip((band - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8))
    return np.dstack(out)


def preview(scene: str, bands: tuple[int, ...], prediction, labels: LabelReader, card: ModelCard, path: Path) -> Path:
    """Input, prediction and labels side by side, decimated to about PREVIEW_PIXELS across."""
    scale = max(1.0, max(prediction.width, prediction.height) / PREVIEW_PIXELS)
    shape = (max(1, round(prediction.height / scale)), max(1, round(prediction.width / scale)))
    with rasterio.open(scene) as src:
        image = src.read(list(bands), out_shape=(len(bands), *shape), resampling=Resampling.average)
    colours = palette(card)
    pred = prediction.read(1, out_shape=shape, resampling=Resampling.nearest)
    truth = labels.read_fine(out_shape=shape)
    return plots.preview_plot([("input", stretch(image)), ("prediction", colours[pred]), ("labels", colours[truth])],
                              path)


def scene_report(model: str, scene: str, labels: str, metrics: dict[str, Any]) -> Report:
    """The report of a scene evaluation: key figures, IoU and F1 per class, the confusion matrix in pixels."""
    names = metrics["class_names"]
    summary = [("model", model), ("scene", scene), ("labels", labels), ("labelled pixels compared", metrics["pixels"]),
               ("pixel accuracy", metrics["pixel_accuracy"]), ("mean IoU", metrics["mean_iou"]),
               ("macro F1", metrics["macro"]["f1"])]
    per_class = Table("Per class", ["class", "IoU", "F1"], [[n, metrics["iou"][n], metrics["f1"][n]] for n in names])
    confusion = Table("Confusion matrix in pixels (rows: true, columns: predicted)", ["true \\ predicted", *names],
                      [[n, *row] for n, row in zip(names, metrics["confusion_matrix"])])
    return Report(f"Evaluation of {Path(model).name} on {Path(scene).name}", summary, [per_class, confusion])


def evaluate_scene(predictor: Predictor, model: str, scene: str, labels: str, out: Path, mapping: str | None = None,
                   config: PredictConfig | None = None, progress: ProgressReporter = SILENT) -> dict[str, Any]:
    """Pixel accuracy, IoU per class, mean IoU and F1 of a model on a scene with a label raster."""
    from geoclassify.inference.config import PredictConfig, SceneOutputs
    from geoclassify.inference.pipeline import predict_scene
    from geoclassify.inference.runners import LocalRunner

    card = predictor.card
    config = replace(config or PredictConfig(), overwrite=True)
    result = predict_scene(scene, SceneOutputs(out / "prediction.tif"), LocalRunner(predictor), config,
                           progress=progress)
    from geoclassify.inference.scene import open_scene

    read = open_scene(scene, card, config.bands, config.resample, config.product)  # as the prediction read it
    with rasterio.open(result.output) as prediction:
        factor = (config.stride or card.tile_size) if card.task == "classification" else 1
        reader = LabelReader(labels, read.path, prediction, card, mapping, factor)
        try:
            cm = confusion_by_blocks(prediction, reader, card.num_classes)
            if cm.sum() == 0:
                raise InputError(f"no labelled pixel of {labels} overlaps a predicted pixel of {scene}")
            image = preview(read.path, read.bands, prediction, reader, card, out / "preview.png")
        finally:
            reader.close()
    names = list(card.class_names)
    metrics = {"model": model, "scene": scene, "labels": labels, "prediction": result.output,
               **pixel_metrics(cm, names)}
    report = scene_report(model, scene, labels, metrics)
    report.images = [("Input, prediction and labels", image.name),
                     ("Confusion matrix (counts)", plots.confusion_plot(cm, names, out / "confusion.png", False).name),
                     ("Confusion matrix (row-normalised)",
                      plots.confusion_plot(cm, names, out / "confusion_normalised.png", True).name)]
    write_report(out, report, metrics)
    return metrics
