"""Keras callbacks that keep a geoclassify run directory: metrics per epoch (same names as the PyTorch trainer),
atomic checkpoints, NaN guard, and Keras' own EarlyStopping / ReduceLROnPlateau made resumable."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

from geoclassify.errors import TrainingError
from geoclassify.io.atomic import atomic_target, write_atomic
from geoclassify.models.keras_file import add_card
from geoclassify.training.keras import import_keras

tf, keras = import_keras()
Callback: Any = keras.callbacks.Callback  # Keras is imported at run time (import_keras): no static type
log = logging.getLogger("geoclassify")

STATE = "checkpoint.json"  # epoch, history, best, callback states: with checkpoint.keras, what --resume needs


def save_keras(model, path: Path, card=None) -> None:
    """Write a `.keras` file atomically (Keras' ModelCheckpoint writes in place), with the card inside."""
    with atomic_target(path, suffix=".keras") as tmp:
        model.save(tmp)
        if card is not None:
            add_card(tmp, card)


class NanGuard(Callback):
    """Stop with a clear message when the loss is no longer finite."""

    def __init__(self, run: Path):
        super().__init__()
        self.run, self.epoch = run, 0

    def on_epoch_begin(self, epoch, logs=None):
        """Note the (1-based) epoch for the message."""
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        """Check the batch's loss.

        Raises:
            TrainingError: the loss is NaN or infinite.
        """
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            kept = (f"the last good checkpoint is {self.run / 'checkpoint.keras'} (epoch {self.epoch - 1})"
                    if self.epoch > 1 else "no checkpoint had been written yet")
            raise TrainingError(f"the loss became {loss} at epoch {self.epoch}, step {batch + 1}; training stopped; "
                                f"{kept}; try a lower optim.lr")


class EpochMetrics(Callback):
    """Validation metrics after each epoch into `logs` (val_loss, val_score for the callbacks after it) and a row
    of metrics.csv / metrics.json / TensorBoard, as the PyTorch trainer writes them."""

    def __init__(self, trainer):
        super().__init__()
        self.trainer, self.start = trainer, 0.0
        self.writer = tf.summary.create_file_writer(str(trainer.run.path / "tensorboard"))

    def on_epoch_begin(self, epoch, logs=None):
        """Start the trainer's epoch (new training windows, skip counts reset) and its clock."""
        self.trainer.begin_epoch(epoch + 1)
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        """Evaluate the validation split, put val_loss and val_score into `logs`, and record the epoch's row.

        Raises:
            TrainingError: the validation split produced no usable samples.
        """
        trainer, seconds = self.trainer, time.perf_counter() - self.start
        skipped = trainer.skips["train"].count
        val = trainer.evaluate("val")
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row = {"epoch": epoch + 1, "train_loss": float(logs["loss"]),
               "train_images_per_s": (trainer.splits["train"].count - skipped) / seconds, "train_skipped": skipped,
               **{f"val_{k}": v for k, v in val.items()}, "lr": lr}
        score = val["accuracy"] + (val["roc_auc"] or 0.0) * 1e-3  # as the PyTorch trainer selects
        logs.update(val_loss=val["loss"], val_score=score)
        trainer.history.append(row)
        trainer.run.write_metrics(trainer.history)
        with self.writer.as_default(step=epoch + 1):
            for key, value in row.items():
                if isinstance(value, (int, float)) and key != "epoch" and value is not None:
                    tf.summary.scalar(key, value)
        self.writer.flush()
        improved = score > trainer.best["score"]
        log.info("epoch %d: loss %.4f, val accuracy %.4f, val score %.4f%s", epoch + 1, row["train_loss"],
                 val["accuracy"], score, " (best)" if improved else "")


def resumable(cls, fields: tuple[str, ...]):
    """A Keras callback class whose counters (`fields`) can be saved and restored after on_train_begin resets them."""

    class Resumable(cls):
        def __init__(self, saved: dict[str, Any] | None = None, **kwargs):
            super().__init__(**kwargs)
            self.saved = saved or {}

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            for key, value in self.saved.items():
                setattr(self, key, value)

        def state(self) -> dict[str, Any]:
            values = {key: getattr(self, key) for key in fields}
            return {k: float(v) if k == "best" and v is not None else int(v) if k != "best" else v
                    for k, v in values.items()}

    Resumable.__name__ = cls.__name__
    return Resumable


EarlyStopping = resumable(keras.callbacks.EarlyStopping, ("wait", "best", "best_epoch"))
ReduceLROnPlateau = resumable(keras.callbacks.ReduceLROnPlateau, ("wait", "best", "cooldown_counter"))


class Checkpoints(Callback):
    """best.keras when val_score improves, last.keras and checkpoint.keras (with the optimizer) every epoch, and
    checkpoint.json: each written to a temporary file beside its target and renamed."""

    def __init__(self, trainer, stateful: list):
        super().__init__()
        self.trainer, self.stateful = trainer, stateful

    def on_epoch_end(self, epoch, logs=None):
        """Write the epoch's model files and checkpoint.json (after EpochMetrics has put val_score into `logs`)."""
        trainer, path = self.trainer, self.trainer.run.path
        if logs["val_score"] > trainer.best["score"]:
            trainer.best = {"score": float(logs["val_score"]), "epoch": epoch + 1}
            extra = {"epoch": epoch + 1, "val_accuracy": round(trainer.history[-1]["val_accuracy"], 4)}
            save_keras(trainer.float32_model(), path / "best.keras", trainer.card(extra))
        save_keras(trainer.float32_model(), path / "last.keras", trainer.card({"epoch": epoch + 1}))
        save_keras(self.model, path / "checkpoint.keras")  # with the optimizer's state, for --resume
        state = {"epoch": epoch + 1, "history": trainer.history, "best": trainer.best,
                 "callbacks": {type(c).__name__: c.state() for c in self.stateful}}
        write_atomic(path / STATE, json.dumps(state, indent=2).encode())
