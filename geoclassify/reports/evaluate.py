"""`geoclassify evaluate` on labelled chips: metrics, plots and a report folder."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import numpy as np

from geoclassify.errors import OutputError
from geoclassify.models.card import ModelCard
from geoclassify.reports import plots
from geoclassify.reports.document import Report, Table, write_report
from geoclassify.reports.metrics import chip_metrics
from geoclassify.reports.sources import load_chip_arrays, model_chip_set, predict_chips

log = logging.getLogger("geoclassify")


def prepare_out(out: str | Path, overwrite: bool) -> Path:
    """Create the report folder; refuse a non-empty one without --overwrite."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder for the report")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputError(f"report folder {out} is not empty; use --overwrite or another --out")
    if not out.parent.is_dir():
        raise OutputError(f"directory {out.parent} for the report does not exist; create it first")
    out.mkdir(exist_ok=True)
    return out


def find_run_dir(model_path: str | Path, card: ModelCard) -> Path | None:
    """The training run of a model: the model file's folder, or the run named in its card, if it has metrics.csv."""
    for candidate in (Path(model_path).parent, Path(str(card.provenance.get("run", "")))):
        if str(candidate) not in ("", ".") and (candidate / "metrics.csv").is_file():
            return candidate
    return None


def read_history(run: Path) -> list[dict[str, float | None]]:
    """A run's metrics.csv as rows of numbers (empty cells: None)."""
    with open(run / "metrics.csv", newline="") as fh:
        return [{k: (float(v) if v not in ("", None) else None) for k, v in row.items()} for row in csv.DictReader(fh)]


def curve_plots(y: np.ndarray, probs: np.ndarray, names: list[str], cm: np.ndarray, out: Path) -> list[tuple[str, str]]:
    """ROC, precision-recall and confusion matrix PNGs; (caption, file name) of each."""
    made = []
    if len(np.unique(y)) > 1:
        made += [("ROC curve", plots.roc_plot(y, probs, names, out / "roc.png").name),
                 ("Precision-recall curve", plots.pr_plot(y, probs, names, out / "precision_recall.png").name)]
    else:
        log.warning("only one class in the data: no ROC or precision-recall curve")
    made += [("Confusion matrix (counts)", plots.confusion_plot(cm, names, out / "confusion.png", False).name),
             ("Confusion matrix (row-normalised)",
              plots.confusion_plot(cm, names, out / "confusion_normalised.png", True).name)]
    return made


def run_plots(model_path: str, card: ModelCard, out: Path) -> tuple[list[tuple[str, str]], str | None]:
    """Loss and metric curves per epoch when the model's run directory is known."""
    run = find_run_dir(model_path, card)
    if run is None:
        log.info("no run directory with metrics.csv found for %s: no training curves", model_path)
        return [], None
    path = plots.training_curves_plot(read_history(run), out / "training_curves.png")
    return [("Loss and validation metrics per epoch", path.name)], str(run)


def chip_report(model: str, card: ModelCard, data: str, metrics: dict[str, Any], run: str | None) -> Report:
    """The report of a chip evaluation: key figures, per-class metrics with a macro row, the confusion matrix.

    `metrics` comes from `chip_metrics` (with model and data added); `run` is the training run folder, or None.
    """
    names = metrics["class_names"]
    summary = [("model", model), ("architecture", card.architecture), ("data", data),
               ("decision", metrics["decision"]), ("accuracy", metrics["accuracy"]),
               ("ROC-AUC", metrics["roc_auc"]), ("ROC-AUC averaging", metrics["roc_auc_averaging"]),
               ("macro F1", metrics["macro"]["f1"]), ("training run", run)]
    per_class = Table("Per class", ["class", "precision", "recall", "F1", "ROC-AUC (one-vs-rest)", "support"],
                      [[n, v["precision"], v["recall"], v["f1"], metrics["roc_auc_per_class"][n], v["support"]]
                       for n, v in metrics["per_class"].items()])
    macro = metrics["macro"]
    per_class.rows.append(["macro", macro["precision"], macro["recall"], macro["f1"], metrics["roc_auc"],
                           metrics["samples"]])
    confusion = Table("Confusion matrix (rows: true, columns: predicted)", ["true \\ predicted", *names],
                      [[n, *row] for n, row in zip(names, metrics["confusion_matrix"])])
    return Report(f"Evaluation of {Path(model).name}", summary, [per_class, confusion])


def evaluate_chips(predictor, model: str, data: str, out: Path, threshold: float | None = None,
                   batch_size: int = 64) -> dict[str, Any]:
    """Evaluate a chip classifier on `data` (a config's held-out test split, or a chip folder)."""
    card = predictor.card
    chips = model_chip_set(data, card, "test", f"--data {data}")
    log.info("evaluating on %s", chips.description)
    images, y = load_chip_arrays(chips, card)
    probs = predict_chips(predictor, images, batch_size)
    metrics = {"model": model, "data": chips.description, **chip_metrics(y, probs, list(card.class_names), threshold)}
    cm = np.asarray(metrics["confusion_matrix"])
    images_made = curve_plots(y, probs, list(card.class_names), cm, out)
    curves, run = run_plots(model, card, out)
    metrics["training_run"] = run
    report = chip_report(model, card, chips.description, metrics, run)
    report.images = images_made + curves
    write_report(out, report, metrics)
    return metrics
