"""The Keras trainer: a Keras 3 ResNet-50 on tf.data, with mixed_float16 on a GPU, Keras callbacks, and a run
directory laid out as the PyTorch trainer's; the model files are ONNX (and `.keras`) with the model card."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import time
from typing import Any

import numpy as np

from geoclassify.errors import ConfigError, OutputError, TrainingError
from geoclassify.io.atomic import write_atomic
from geoclassify.models.card import ModelCard, with_provenance
from geoclassify.models.keras_file import read_keras_card
from geoclassify.models.onnx_file import save_with_card
from geoclassify.training.config import TrainConfig
from geoclassify.training.keras import import_keras
from geoclassify.training.keras.callbacks import (
    STATE,
    Checkpoints,
    EarlyStopping,
    EpochMetrics,
    NanGuard,
    ReduceLROnPlateau,
)
from geoclassify.training.keras.data import ChipSplit, SceneWindowSplit, Skips, make_dataset
from geoclassify.training.keras.model import build_model, card_architecture, count_flops, export_onnx, float32_twin
from geoclassify.training.metrics import classification_metrics
from geoclassify.training.run import RunDir, environment
from geoclassify.training.sources import DataInfo, chip_source, scene_source, training_card

tf, keras = import_keras()
log = logging.getLogger("geoclassify")


def select_device(device: str) -> bool:
    """Apply --device to TensorFlow; True when training runs on a GPU."""
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda, not {device!r}")
    gpus = tf.config.list_physical_devices("GPU")
    if device == "cuda" and not gpus:
        raise ConfigError("--device cuda was asked for, but TensorFlow sees no GPU; use --device cpu or auto "
                          "(GPU TensorFlow: pip install 'tensorflow[and-cuda]')")
    if device == "cpu" and gpus:
        tf.config.set_visible_devices([], "GPU")
        return False
    return bool(gpus)


def prepare_splits(config: TrainConfig) -> tuple[DataInfo, dict[str, Any]]:
    """The data's description and each split as indexed samples: chips, or scene windows labelled by majority."""
    data = config.data
    if data.source == "chips":
        info, splits = chip_source(config)
        return info, {name: ChipSplit(name, part, list(data.bands), data.tile_size,
                                      seed=config.seed if name == "train" else None)
                      for name, part in splits.items()}
    if data.source == "scene":
        info, reader, blocks = scene_source(config)
        info.task = "classification"  # a chip classifier: each window gets the majority class of its labels
        return info, {name: SceneWindowSplit(name, reader, part, data.tile_size,
                                             data.windows_per_epoch if name == "train" else None,
                                             data.min_labelled, config.seed)
                      for name, part in blocks.items()}
    raise ConfigError(f"data.source must be one of chips, scene, not {data.source!r}")


def make_optimizer(config: TrainConfig):
    """The Keras optimizer of `optim`: AdamW or Adam, with its learning rate, weight decay and gradient clipping."""
    opt = config.optim
    cls = keras.optimizers.AdamW if opt.optimizer == "adamw" else keras.optimizers.Adam
    return cls(learning_rate=opt.lr, weight_decay=opt.weight_decay, global_clipnorm=opt.grad_clip or None)


class KerasTrainer:
    """Trains `keras:<arch>` into a run directory; `fit` returns the test metrics of the best epoch."""

    def __init__(self, config: TrainConfig, run: RunDir, progress: bool = True):
        self.config, self.run, self.progress = config, run, progress
        opt = config.optim
        for key, allowed in (("schedule", ("cosine", "plateau")), ("class_weights", (None, "balanced"))):
            if getattr(opt, key) not in allowed:
                raise ConfigError(f"optim.{key} must be one of {allowed}, not {getattr(opt, key)!r}")
        if opt.backbone_lr_scale != 1.0:
            raise ConfigError("optim.backbone_lr_scale is for the torch trainer; the Keras trainer trains every layer "
                              "at optim.lr")
        gpu = select_device(config.device)
        if opt.amp and not gpu:
            log.warning("--amp (mixed_float16) needs a GPU; training on the CPU in float32")
        keras.config.set_dtype_policy("mixed_float16" if opt.amp and gpu else "float32")
        keras.utils.set_random_seed(config.seed)
        self.info, self.splits = prepare_splits(config)
        self.skips = {name: Skips() for name in self.splits}
        self.datasets = {name: self.dataset(name) for name in self.splits}
        n = len(self.info.classes)
        self.model = build_model(config.model.arch, len(self.info.bands), n, config.data.tile_size,
                                 config.model.pretrained)
        self.model.compile(optimizer=make_optimizer(config), loss=keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=opt.label_smoothing))
        self.gflops = count_flops(self.model)
        self.twin = float32_twin(config.model.arch, len(self.info.bands), n, config.data.tile_size)
        self.infer = tf.function(lambda x: self.model(x, training=False))
        self.history: list[dict[str, Any]] = []
        self.best = {"score": -math.inf, "epoch": 0}
        self.start_epoch = 0
        self.saved_callbacks: dict[str, dict[str, Any]] = {}  # callback class name -> its state(), from --resume

    def dataset(self, name: str):
        """The tf.data pipeline of split `name`: batches of normalised (tile, tile, bands) float32 images with their
        labels (training: shuffled, augmented and mixed, one-hot labels)."""
        cfg, info = self.config, self.info
        train = name == "train"
        return make_dataset(self.splits[name], shape=(cfg.data.tile_size, cfg.data.tile_size, len(info.bands)),
                            dtype=info.dtype, mean=info.mean, std=info.std, batch_size=cfg.optim.batch_size,
                            n_classes=len(info.classes), skips=self.skips[name], cache_dir=cfg.loader.cache_dir,
                            train=train, augment=train and cfg.loader.augment, mixup=cfg.optim.mixup,
                            cutmix=cfg.optim.cutmix, seed=cfg.seed)

    def card(self, extra: dict[str, Any]) -> ModelCard:
        """The model card of the model being trained, with the Keras and TensorFlow versions, GFLOPs and `extra`
        in its provenance.

        Raises:
            ConfigError: a class colour is not [r, g, b].
        """
        versions = f"keras {keras.__version__}, tensorflow {tf.__version__}"
        return training_card(self.config, self.info, card_architecture(self.config.model.arch), str(self.run.path),
                             self.model.count_params(), {"framework": versions, "gflops": round(self.gflops, 4),
                                                         **extra})

    def float32_model(self):
        """The trained weights in an uncompiled float32 model (what best/last.keras and the ONNX files hold)."""
        self.twin.set_weights(self.model.get_weights())
        return self.twin

    def begin_epoch(self, epoch: int) -> None:
        """Set every split to (1-based) `epoch` (new random windows) and reset its skipped-sample count."""
        for name, split in self.splits.items():
            split.set_epoch(epoch)
            self.skips[name].count = 0

    def evaluate(self, split: str, model=None) -> dict[str, Any]:
        """Loss (cross entropy, no smoothing) and classification metrics of a split."""
        infer = self.infer if model is None else tf.function(lambda x: model(x, training=False))
        self.skips[split].count = 0
        labels, logits = [], []
        for x, y in self.datasets[split]:
            logits.append(np.asarray(infer(x), np.float64))
            labels.append(y.numpy())
        if not labels:
            raise TrainingError(f"the {split} split produced no usable samples")
        z, y = np.concatenate(logits), np.concatenate(labels).astype(np.int64)
        z -= z.max(1, keepdims=True)
        log_probs = z - np.log(np.exp(z).sum(1, keepdims=True))
        loss = float(-log_probs[np.arange(len(y)), y].mean())
        return {"loss": loss, **classification_metrics(y, np.exp(log_probs))}

    def class_weight(self) -> dict[int, float] | None:
        """Keras' class_weight for optim.class_weights=balanced (inverse class frequency of the training split), or
        None."""
        if self.config.optim.class_weights != "balanced":
            return None
        counts = np.maximum(self.info.train_counts, 1)
        return {i: float(counts.sum() / (len(counts) * c)) for i, c in enumerate(counts)}

    def callbacks(self) -> list:
        """The callbacks of a fit, in order: NaN guard, epoch metrics, learning-rate schedule, early stopping,
        checkpoints and TensorBoard; resumable ones take their saved state."""
        opt, saved = self.config.optim, self.saved_callbacks
        stateful = []
        if opt.schedule == "plateau":
            schedule = ReduceLROnPlateau(saved.get("ReduceLROnPlateau"), monitor="val_loss", factor=0.5, patience=2)
            stateful.append(schedule)
        else:
            epochs = max(1, opt.epochs)
            schedule = keras.callbacks.LearningRateScheduler(
                lambda epoch, lr: 0.5 * opt.lr * (1 + math.cos(math.pi * epoch / epochs)))
        if opt.early_stopping:
            stateful.append(EarlyStopping(saved.get("EarlyStopping"), monitor="val_score", mode="max",
                                          patience=opt.early_stopping))
        board = keras.callbacks.TensorBoard(str(self.run.path / "tensorboard"), write_graph=False)
        return [NanGuard(self.run.path), EpochMetrics(self), schedule, *stateful,
                Checkpoints(self, stateful), board]

    def fit(self) -> dict[str, Any]:
        """Train from `start_epoch` to optim.epochs (or early stopping), then score the best epoch on the test split.

        Returns:
            {"best_epoch": ..., "test": the test metrics}, as written to test_metrics.json.

        Raises:
            TrainingError: the loss became NaN or infinite, memory ran out, no epoch was completed, or a split
                produced no usable samples.
            ExportError: the model could not be exported to ONNX.
        """
        opt = self.config.optim
        verbose = (1 if sys.stderr.isatty() else 2) if self.progress else 0
        try:
            with contextlib.redirect_stdout(sys.stderr):  # Keras' progress bar: stdout is for the result
                self.model.fit(self.datasets["train"], epochs=opt.epochs, initial_epoch=self.start_epoch,
                               callbacks=self.callbacks(), class_weight=self.class_weight(), verbose=verbose,
                               shuffle=False)  # the dataset shuffles
        except tf.errors.ResourceExhaustedError:
            raise TrainingError(f"out of memory; use a smaller batch, e.g. "
                                f"--set optim.batch_size={max(1, opt.batch_size // 2)}") from None
        if self.best["epoch"] == 0:
            raise TrainingError("no epoch was completed")
        return self.finish()

    def finish(self) -> dict[str, Any]:
        """Score the best epoch on the test split; write test_metrics.json and the ONNX model files."""
        path = self.run.path
        best = keras.saving.load_model(path / "best.keras", compile=False)
        test = self.evaluate("test", best)
        result = {"best_epoch": self.best["epoch"], "test": test}
        write_atomic(path / "test_metrics.json", json.dumps(result, indent=2).encode())
        example = next(iter(self.datasets["val"]))[0].numpy()[:8]
        note = "onnx float32 (from Keras, tf2onnx)"
        cards = {name: with_provenance(read_keras_card(path / f"{name}.keras"), format=note)
                 for name in ("best", "last")}
        start = time.perf_counter()
        diff = export_onnx(best, cards["best"], path / "best.onnx", example)
        log.info("wrote %s in %.0f s; max |logit difference| to Keras: %.2g", path / "best.onnx",
                 time.perf_counter() - start, diff)
        if self.best["epoch"] == self.history[-1]["epoch"]:  # the same weights: the same graph, its own card
            import onnx

            save_with_card(onnx.load(str(path / "best.onnx")), cards["last"], path / "last.onnx")
        else:
            export_onnx(self.float32_model(), cards["last"], path / "last.onnx", example)
        return result

    def restore(self) -> None:
        """Continue from checkpoint.keras (weights and optimizer state) and checkpoint.json."""
        file = self.run.path / STATE
        if not file.is_file() or not (self.run.path / "checkpoint.keras").is_file():
            raise OutputError(f"{self.run.path} has no checkpoint.keras and {STATE} to resume from")
        state = json.loads(file.read_text())
        self.model = keras.saving.load_model(self.run.path / "checkpoint.keras")
        self.infer = tf.function(lambda x: self.model(x, training=False))
        self.history, self.best, self.saved_callbacks = state["history"], state["best"], state["callbacks"]
        self.start_epoch = state["epoch"]


def keras_environment() -> dict[str, Any]:
    """The run's environment record (see `environment`) with the TensorFlow and Keras versions and whether a GPU
    is visible."""
    return environment(tensorflow=tf.__version__, keras=keras.__version__,
                       gpu=bool(tf.config.list_physical_devices("GPU")))


def train(config: TrainConfig, out: str, progress: bool = True) -> dict[str, Any]:
    """Train a Keras model into a new run directory `out`.

    Args:
        config: the training configuration (model.framework keras).
        out: the run directory to create; it must not exist, or be empty.
        progress: show Keras' progress bar (on stderr).

    Returns:
        {"best_epoch": ..., "test": the test metrics of the best epoch}.

    Raises:
        OutputError: `out` exists and is not empty, or its parent folder does not exist.
        ConfigError: a config value is invalid (architecture, device, source, optimizer, schedule...).
        InputError: the data or the pretrained weights cannot be read.
        TrainingError: training cannot go on (NaN loss, out of memory, a split without usable samples).
        ExportError: the model could not be exported to ONNX.
    """
    run = RunDir(out)
    run.create(config, keras_environment())
    return KerasTrainer(config, run, progress).fit()


def resume(run_path: str, progress: bool = True) -> dict[str, Any]:
    """Continue an interrupted Keras run from its checkpoint (or only score and export it, if it had finished
    training).

    Args:
        run_path: the run directory.
        progress: show Keras' progress bar (on stderr).

    Returns:
        {"best_epoch": ..., "test": the test metrics of the best epoch}.

    Raises:
        OutputError: `run_path` is not a run directory, or has no checkpoint to resume from.
        ConfigError: its config holds an invalid value.
        InputError: the data cannot be read.
        TrainingError: training cannot go on (NaN loss, out of memory, a split without usable samples).
        ExportError: the model could not be exported to ONNX.
    """
    run = RunDir(run_path)
    trainer = KerasTrainer(run.load_config(), run, progress)
    trainer.restore()
    if trainer.start_epoch >= trainer.config.optim.epochs:
        return trainer.finish()
    return trainer.fit()


__all__ = ["train", "resume", "KerasTrainer"]
