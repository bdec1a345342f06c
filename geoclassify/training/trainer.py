"""The trainer: AMP, channels_last, CutMix/MixUp, class weights, schedules, early stopping, resume."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

from geoclassify.errors import ConfigError, GeoclassifyError, TrainingError
from geoclassify.inference.predictor import resolve_device
from geoclassify.io.atomic import write_atomic
from geoclassify.models.card import ModelCard
from geoclassify.models.factory import count_parameters, create_model_with_weights
from geoclassify.models.files import save_model
from geoclassify.optional import require
from geoclassify.progress import SILENT, ProgressReporter
from geoclassify.training.augment import mix_batch
from geoclassify.training.class_mapping import IGNORE
from geoclassify.training.config import TrainConfig
from geoclassify.training.metrics import classification_metrics, confusion, segmentation_metrics
from geoclassify.training.run import RunDir
from geoclassify.training.sources import DataInfo, chip_source, scene_source, training_card
from geoclassify.training.streams import BatchNormalizer, ChipStream, SceneWindowStream, collate

log = logging.getLogger("geoclassify")


@dataclass
class PreparedData(DataInfo):
    """A data source's description with its torch streams and loaders."""

    streams: dict[str, Any] = field(default_factory=dict)
    loaders: dict[str, DataLoader] = field(default_factory=dict)  # set by prepare_data


def make_loaders(config: TrainConfig, streams: dict[str, Any]) -> dict[str, DataLoader]:
    """A DataLoader per stream, with the config's batch size and worker settings, collating with `collate`."""
    workers = config.loader.workers
    return {name: DataLoader(stream, batch_size=config.optim.batch_size, num_workers=workers, collate_fn=collate,
                             persistent_workers=workers > 0 and config.loader.persistent_workers,
                             prefetch_factor=config.loader.prefetch_factor if workers > 0 else None)
            for name, stream in streams.items()}


def prepare_data(config: TrainConfig) -> PreparedData:
    """The data source's streams and loaders, and what the model card needs to know about the data."""
    sources = {"chips": prepare_chips, "scene": prepare_scenes}
    if config.data.source not in sources:
        raise ConfigError(f"data.source must be one of {', '.join(sources)}, not {config.data.source!r}")
    prepared = sources[config.data.source](config)
    prepared.loaders = make_loaders(config, prepared.streams)
    return prepared


def prepare_scenes(config: TrainConfig) -> PreparedData:
    """Scenes with labels: their description and a window stream per split (random windows for training).

    Raises:
        ConfigError: the scenes or their labelling are not configured correctly.
        InputError: a scene or its labels cannot be read.
    """
    data = config.data
    info, reader, blocks = scene_source(config)
    streams = {name: SceneWindowStream(reader, part, data.tile_size,
                                       count=data.windows_per_epoch if name == "train" else None,
                                       augment=name == "train" and config.loader.augment,
                                       min_labelled=data.min_labelled, seed=config.seed)
               for name, part in blocks.items()}
    return PreparedData(**vars(info), streams=streams)


def prepare_chips(config: TrainConfig) -> PreparedData:
    """Chip folders: their description and a chip stream per split (shuffled and augmented for training).

    Raises:
        ConfigError: data.path is not a folder of class folders, or the split cannot be made.
        InputError: none of the sampled training images can be read.
    """
    loader = config.loader
    info, splits = chip_source(config)
    streams = {name: ChipStream(part, config.data.bands, shuffle=name == "train",
                                augment=name == "train" and loader.augment, seed=config.seed,
                                cache_dir=loader.cache_dir)
               for name, part in splits.items()}
    return PreparedData(**vars(info), streams=streams)


def backbone_parameters(model: nn.Module) -> set[nn.Parameter]:
    """The parameters a pretrained start covers: a U-Net's encoder, or all of a timm classifier but its head.

    Raises:
        ConfigError: the model is neither (optim.backbone_lr_scale has no backbone to slow).
    """
    from geoclassify.models.segmentation import UNet

    if isinstance(model, UNet):
        return set(model.encoder.parameters())
    get_classifier = getattr(model, "get_classifier", None)
    if not callable(get_classifier):
        raise ConfigError(f"optim.backbone_lr_scale needs a U-Net or a timm classifier (a backbone and a head), "
                          f"not {type(model).__name__}")
    head = set(get_classifier().parameters())
    return {p for p in model.parameters() if p not in head}


def make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """AdamW or Adam over the model's parameters, with optim's learning rate and weight decay; the backbone at
    optim.lr x optim.backbone_lr_scale (a lower rate for pretrained weights than for the new head or decoder)."""
    opt = config.optim
    cls = torch.optim.AdamW if opt.optimizer == "adamw" else torch.optim.Adam
    if opt.backbone_lr_scale == 1.0:
        return cls(model.parameters(), lr=opt.lr, weight_decay=opt.weight_decay)
    backbone = backbone_parameters(model)
    groups = [{"params": [p for p in model.parameters() if p in backbone], "lr": opt.lr * opt.backbone_lr_scale},
              {"params": [p for p in model.parameters() if p not in backbone], "lr": opt.lr}]
    return cls([g for g in groups if g["params"]], lr=opt.lr, weight_decay=opt.weight_decay)


def make_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer):
    """The learning-rate schedule: cosine annealing over optim.epochs, or halving on a validation loss plateau.

    Raises:
        ConfigError: optim.schedule is neither cosine nor plateau.
    """
    if config.optim.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.optim.epochs))
    if config.optim.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
    raise ConfigError(f"optim.schedule must be cosine or plateau, not {config.optim.schedule!r}")


class Trainer:
    """Trains one model into a run directory; `fit` returns the test metrics of the best epoch."""

    def __init__(self, config: TrainConfig, run: RunDir, progress: ProgressReporter = SILENT,
                 resuming: bool = False):
        """Prepare the data, the model (from pretrained weights unless `resuming`: the checkpoint replaces them),
        the optimizer and the schedule."""
        self.config, self.run, self.progress = config, run, progress
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        self.device = resolve_device(config.device)
        self.data = prepare_data(config)
        self.normalize = BatchNormalizer(self.data.mean, self.data.std, self.device)
        n = len(self.data.classes)
        model, self.pretrained = create_model_with_weights(config.model.arch, len(self.data.bands), n,
                                                           pretrained=False if resuming else config.model.pretrained,
                                                           band_names=config.data.band_names, **config.model.kwargs)
        self.model = model.to(self.device)
        if config.optim.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = make_optimizer(config, self.model)
        self.scheduler = make_scheduler(config, self.optimizer)
        amp_cuda = config.optim.amp and self.device.type == "cuda"
        if config.optim.amp and not amp_cuda:
            log.warning("--amp on the CPU means bfloat16 autocast, which is far slower on CPUs without bf16")
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp_cuda)
        weights = None
        if config.optim.class_weights not in (None, "balanced"):
            raise ConfigError(f"optim.class_weights must be balanced or null, not {config.optim.class_weights!r}")
        if config.optim.class_weights == "balanced":
            counts = np.maximum(self.data.train_counts, 1)
            weights = torch.tensor(counts.sum() / (n * counts), dtype=torch.float32, device=self.device)
        self.class_weights = weights
        self.mix_gen = torch.Generator().manual_seed(config.seed)
        self.history: list[dict[str, Any]] = []
        self.best = {"score": -math.inf, "epoch": 0}
        self.bad_epochs = 0
        self.start_epoch = 1

    # ---- state -------------------------------------------------------------------------------
    def state(self, epoch: int) -> dict[str, Any]:
        """Everything --resume needs after `epoch`: weights, optimizer, schedule, scaler, history and RNG states."""
        return {"epoch": epoch, "pretrained": self.pretrained, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "history": self.history, "best": self.best, "bad_epochs": self.bad_epochs,
                "torch_rng": torch.get_rng_state(), "mix_rng": self.mix_gen.get_state()}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a `state` (a checkpoint): training goes on at the epoch after it."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.history, self.best, self.bad_epochs = state["history"], state["best"], state["bad_epochs"]
        self.pretrained = state.get("pretrained", self.pretrained)  # where the weights first came from
        torch.set_rng_state(state["torch_rng"])
        self.mix_gen.set_state(state["mix_rng"])
        self.start_epoch = state["epoch"] + 1

    def card(self, extra: dict[str, Any]) -> ModelCard:
        """The model card of the model being trained, with `extra` in its provenance.

        Raises:
            ConfigError: a class colour is not [r, g, b].
        """
        pretrained = {"pretrained": self.pretrained} if self.pretrained else {}
        return training_card(self.config, self.data, self.config.model.arch, str(self.run.path),
                             count_parameters(self.model), {**pretrained, **extra})

    def save_model_file(self, name: str, extra: dict[str, Any]) -> None:
        """Write the model with its card as `name` in the run directory (`extra`: added to the card's provenance)."""
        model = self.model.to(memory_format=torch.contiguous_format)
        save_model(model, self.card(extra), self.run.path / name)
        if self.config.optim.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)

    # ---- loops -------------------------------------------------------------------------------
    def autocast(self):
        """A context for the forward pass: autocast (float16 on CUDA, bfloat16 on the CPU) with optim.amp, else
        nothing."""
        if not self.config.optim.amp:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.float16 if self.device.type == "cuda" else torch.bfloat16)

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        """A raw batch from the loader -> normalised float32 on the device (channels_last if asked)."""
        x = self.normalize.images(x)
        return x.contiguous(memory_format=torch.channels_last) if self.config.optim.channels_last else x

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Weighted, label-smoothed cross entropy: soft targets per chip, or class maps with IGNORE pixels."""
        ignore = IGNORE if self.data.task == "segmentation" else -100  # -100: cross_entropy's default
        return F.cross_entropy(logits, target, weight=self.class_weights, ignore_index=ignore,
                               label_smoothing=self.config.optim.label_smoothing)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training split (CutMix / MixUp for classification, AMP, gradient clipping).

        Returns:
            train_loss (mean per image), train_images_per_s and train_skipped (unreadable or unusable samples).

        Raises:
            TrainingError: the loss became NaN or infinite, or no training image could be read.
        """
        opt, n = self.config.optim, len(self.data.classes)
        self.model.train()
        self.data.streams["train"].set_epoch(epoch)
        total_loss, seen, bad, start = 0.0, 0, 0, time.perf_counter()
        bar = self.progress.bar(len(self.data.streams["train"]), f"epoch {epoch}/{opt.epochs}", "img")
        for step, (x, y, bad_items) in enumerate(self.data.loaders["train"]):
            for kind, reason in bad_items:
                if kind == "bad":
                    log.warning("skipped unreadable image %s", reason)
            bad += len(bad_items)
            bar.update(len(bad_items))
            if x is None:
                continue
            x, target = self.to_device(x), self.normalize.targets(y)
            if self.data.task == "classification":
                x, target = mix_batch(x, target, n, opt.mixup, opt.cutmix, self.mix_gen)
            with self.autocast():
                logits = self.model(x)
            loss = self.loss(logits.float(), target)
            if not torch.isfinite(loss):
                kept = (f"the last good checkpoint is {self.run.path / 'checkpoint.pt'} (epoch {epoch - 1})"
                        if epoch > 1 else "no checkpoint had been written yet")
                raise TrainingError(f"the loss became {loss.item()} at epoch {epoch}, step {step + 1}; training "
                                    f"stopped; {kept}; try a lower optim.lr")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if opt.grad_clip:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), opt.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            total_loss += loss.item() * len(x)
            seen += len(x)
            rate = seen / (time.perf_counter() - start)
            bar.update(len(x))
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", img_s=f"{rate:.0f}")
        bar.close()
        if seen == 0:
            raise TrainingError("no training image could be read")
        return {"train_loss": total_loss / seen, "train_images_per_s": seen / (time.perf_counter() - start),
                "train_skipped": bad}

    @torch.inference_mode()
    def evaluate(self, split: str) -> dict[str, Any]:
        """Loss and metrics of a split (classification metrics, or pixel metrics and IoU)."""
        self.model.eval()
        n = len(self.data.classes)
        labels, probs, loss_sum, count = [], [], 0.0, 0
        cm = np.zeros((n, n), dtype=np.int64)
        for x, y, _ in self.data.loaders[split]:
            if x is None:
                continue
            with self.autocast():
                logits = self.model(self.to_device(x)).float()
            y = self.normalize.targets(y)
            loss_sum += F.cross_entropy(logits, y, reduction="sum", ignore_index=IGNORE).item()
            if self.data.task == "segmentation":
                valid = y != IGNORE
                count += int(valid.sum())
                cm += confusion(y[valid].cpu().numpy(), logits.argmax(1)[valid].cpu().numpy(), n)
            else:
                count += len(y)
                labels.append(y.cpu().numpy())
                probs.append(F.softmax(logits, 1).cpu().numpy())
        if count == 0:
            raise TrainingError(f"the {split} split produced no usable samples")
        if self.data.task == "segmentation":
            metrics = segmentation_metrics(cm, self.data.classes)
        else:
            metrics = classification_metrics(np.concatenate(labels), np.concatenate(probs))
        return {"loss": loss_sum / count, **metrics}

    def score(self, val: dict[str, Any]) -> float:
        """Model selection: mean IoU for segmentation; accuracy (AUC breaks ties) for classification."""
        if self.data.task == "segmentation":
            return val["miou"] or 0.0
        return val["accuracy"] + (val["roc_auc"] or 0.0) * 1e-3

    def step_schedule(self, val_loss: float) -> None:
        """Advance the learning-rate schedule after an epoch (the plateau schedule watches `val_loss`)."""
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(val_loss)
        else:
            self.scheduler.step()

    def fit(self) -> dict[str, Any]:
        """Train from `start_epoch` to optim.epochs (or early stopping), then score the best epoch on the test split.

        Returns:
            {"best_epoch": ..., "test": the test metrics}, as written to test_metrics.json.

        Raises:
            TrainingError: the loss became NaN or infinite, memory ran out, or a split produced no usable samples.
        """
        try:
            return self._fit()
        except torch.OutOfMemoryError:
            raise TrainingError(f"out of memory on {self.device}; use a smaller batch, e.g. "
                                f"--set optim.batch_size={max(1, self.config.optim.batch_size // 2)}") from None

    def _fit(self) -> dict[str, Any]:
        opt = self.config.optim
        tb = self._tensorboard()
        for epoch in range(self.start_epoch, opt.epochs + 1):
            row = {"epoch": epoch, **self.train_epoch(epoch)}
            val = self.evaluate("val")
            row.update({f"val_{k}": v for k, v in val.items()}, lr=self.optimizer.param_groups[0]["lr"])
            self.step_schedule(val["loss"])
            self.history.append(row)
            score = self.score(val)
            improved = score > self.best["score"]
            if improved:
                self.best, self.bad_epochs = {"score": score, "epoch": epoch}, 0
                self.save_model_file("best.safetensors", {"epoch": epoch, "val_accuracy": round(val["accuracy"], 4)})
            else:
                self.bad_epochs += 1
            self.save_model_file("last.safetensors", {"epoch": epoch})
            self.run.write_metrics(self.history)
            self.run.save_checkpoint(self.state(epoch))
            if tb is not None:
                for key, value in row.items():
                    if isinstance(value, (int, float)) and key != "epoch" and value is not None:
                        tb.add_scalar(key, value, epoch)
            log.info("epoch %d: loss %.4f, val accuracy %.4f, val score %.4f%s", epoch, row["train_loss"],
                     val["accuracy"], score, " (best)" if improved else "")
            if opt.early_stopping and self.bad_epochs >= opt.early_stopping:
                log.info("early stopping: no improvement for %d epochs", self.bad_epochs)
                break
        if tb is not None:
            tb.close()
        return self.test_best()

    def test_best(self) -> dict[str, Any]:
        """Load best.safetensors, score it on the test split and write test_metrics.json.

        Returns:
            {"best_epoch": ..., "test": the test metrics}.

        Raises:
            TrainingError: the test split produced no usable samples.
        """
        from geoclassify.models.files import load_model

        best, _ = load_model(self.run.path / "best.safetensors")
        self.model.load_state_dict(best.state_dict())
        test = self.evaluate("test")
        result = {"best_epoch": self.best["epoch"], "test": test}
        write_atomic(self.run.path / "test_metrics.json", json.dumps(result, indent=2).encode())
        return result

    def _tensorboard(self):
        return tensorboard_writer(self.run.path / "tensorboard")


def tensorboard_writer(path: Path):
    """A TensorBoard SummaryWriter (None without tensorboard) that does not import TensorFlow.

    tensorboard imports TensorFlow whenever it is installed (3.5 s and 450 MiB a training run here,
    benchmarks/RESULTS.md; and TensorFlow beside torch in one process can crash) unless a module
    `tensorboard.compat.notf` exists, which makes it use its own stub: the event files are the same."""
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    try:
        tensorboard = require("torch.utils.tensorboard", "train", "TensorBoard logs")
    except GeoclassifyError as exc:
        log.warning("%s; training goes on without them", exc)
        return None
    return tensorboard.SummaryWriter(str(path))


def train(config: TrainConfig, out: str, progress: ProgressReporter = SILENT) -> dict[str, Any]:
    """Train a torch model into a new run directory `out`.

    Args:
        config: the training configuration.
        out: the run directory to create; it must not exist, or be empty.
        progress: reports each epoch's progress (default: silent).

    Returns:
        {"best_epoch": ..., "test": the test metrics of the best epoch}.

    Raises:
        OutputError: `out` exists and is not empty, or its parent folder does not exist.
        ConfigError: a config value is invalid (source, device, optimizer, schedule, class weights...).
        ModelFileError: the architecture cannot be built, or its pretrained weights cannot be loaded.
        InputError: the data cannot be read.
        TrainingError: training cannot go on (NaN loss, out of memory, a split without usable samples).
    """
    run = RunDir(out)
    run.create(config)
    return Trainer(config, run, progress).fit()


def resume(run_path: str, progress: ProgressReporter = SILENT) -> dict[str, Any]:
    """Continue an interrupted torch run from its checkpoint.pt, with its saved config.

    Args:
        run_path: the run directory.
        progress: reports each epoch's progress (default: silent).

    Returns:
        {"best_epoch": ..., "test": the test metrics of the best epoch}.

    Raises:
        OutputError: `run_path` is not a run directory, or has no checkpoint.pt.
        ConfigError: its config holds an invalid value.
        ModelFileError: the architecture cannot be built.
        InputError: the data cannot be read.
        TrainingError: training cannot go on (NaN loss, out of memory, a split without usable samples).
    """
    run = RunDir(run_path)
    config = run.load_config()
    trainer = Trainer(config, run, progress, resuming=True)
    trainer.restore(run.load_checkpoint())
    return trainer.fit()


__all__ = ["train", "resume", "Trainer", "TrainingError"]
