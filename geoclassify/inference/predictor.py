"""Model backends: turn batches of raw pixel windows into class probabilities."""

from __future__ import annotations

import contextlib
import logging
import os
from functools import partial
from typing import TYPE_CHECKING, Protocol

import numpy as np

from geoclassify.errors import ConfigError
from geoclassify.inference.batching import pixels_per_call
from geoclassify.inference.dense_chips import CellGeometry, CellLogitsMixin, measure_cells
from geoclassify.models import files as model_files
from geoclassify.models.card import ModelCard
from geoclassify.models.keras_file import onnx_beside

if TYPE_CHECKING:  # torch loads only for torch models: an ONNX model runs without it
    import torch
    import torch.nn as nn

log = logging.getLogger("geoclassify")


class Predictor(Protocol):
    """What the pipeline runs: a model with its card that turns raw pixel batches into probabilities."""

    card: ModelCard
    source: dict | None  # the files it was loaded from (set by load_predictor)
    pixels_per_call: int  # the budget of scene pixels per call that suits its backend and device

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(n, bands, h, w) raw pixels -> (n, classes) or (n, classes, h, w) probabilities, float32."""

    @property
    def cells(self) -> CellGeometry | None:
        """A chip classifier's feature cells where it has a fully convolutional form, else None."""

    def cell_logits(self, batch: np.ndarray) -> np.ndarray:
        """(n, bands, h, w) raw pixels -> (n, classes, h / cell, w / cell) logits of each feature cell, float32
        (`geoclassify.inference.dense_chips`)."""


def resolve_device(device: str) -> "torch.device":
    """The torch device for --device auto|cpu|cuda.

    Args:
        device: "auto" (CUDA when available), "cpu" or "cuda".

    Returns:
        The device.

    Raises:
        ConfigError: `device` is not one of the three, or is "cuda" and no CUDA GPU is available.
    """
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but no CUDA GPU is available; use --device cpu or auto")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda, not {device!r}")
    return torch.device(device)


class TorchPredictor(CellLogitsMixin):
    """Runs a torch model in inference mode: normalisation on the device, channels_last, optional AMP."""

    def __init__(self, model: "nn.Module", card: ModelCard, device: str = "auto", amp: bool = False) -> None:
        import torch

        self.card = card
        self.source: dict | None = None  # the files it was loaded from (set by load_predictor)
        self.device = resolve_device(device)
        if amp and self.device.type == "cpu":
            log.warning("--amp on the CPU uses bfloat16 autocast, which is much slower on CPUs without bf16 "
                        "instructions; AMP is meant for CUDA")
        self.amp = amp
        self.model = model.to(self.device).eval().to(memory_format=torch.channels_last)
        shape = (1, len(card.bands), 1, 1)
        self.mean = torch.tensor(card.mean, dtype=torch.float32, device=self.device).view(shape)
        self.std = torch.tensor(card.std, dtype=torch.float32, device=self.device).view(shape)
        self.pixels_per_call = pixels_per_call("torch", self.device.type)
        self._dense: "nn.Module | None" = None

    def _measure_cells(self) -> CellGeometry | None:
        """The cells of the model's fully convolutional form (`geoclassify.models.dense`), or None."""
        import torch

        from geoclassify.models.dense import cell_logits

        card = self.card
        dense = cell_logits(self.model, card.in_channels, card.tile_size) if card.task == "classification" else None
        if dense is None:
            return None
        self._dense = dense.to(memory_format=torch.channels_last)
        # the receptive field is the architecture's: measured in float32, without --amp's autocast
        return measure_cells(partial(self._cells, exact=True), card.mean, card.std, card.tile_size)

    def _cells(self, batch: np.ndarray, exact: bool = False) -> np.ndarray:
        import torch

        assert self._dense is not None
        with torch.inference_mode():
            with contextlib.nullcontext() if exact else self._autocast():
                logits = self._dense(self._normalised(batch))
            return logits.float().cpu().numpy()

    def _normalised(self, batch: np.ndarray) -> "torch.Tensor":
        import torch

        x = torch.from_numpy(batch).to(self.device, non_blocking=True).float()
        return ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)

    def _autocast(self) -> contextlib.AbstractContextManager:
        import torch

        if not self.amp:
            return contextlib.nullcontext()
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(n, bands, h, w) raw pixels -> (n, classes) or (n, classes, h, w) probabilities, float32."""
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            x = self._normalised(batch)
            with self._autocast():
                logits = self.model(x)
            return F.softmax(logits.float(), dim=1).cpu().numpy()


def runnable_format(model_path: str | os.PathLike) -> model_files.ModelFormat:
    """The format of a model file that geoclassify can run: a torch model or an ONNX model.

    Args:
        model_path: a model file (it need not exist).

    Returns:
        "safetensors" (run by torch) or "onnx" (run by ONNX Runtime).

    Raises:
        ConfigError: it is a Keras model file (the message names the ONNX file to run instead).
        ModelFileError: the suffix is none of .safetensors, .onnx and .keras.
    """
    fmt = model_files.model_format(model_path)
    if fmt == "keras":
        raise ConfigError(onnx_beside(model_path))
    return fmt


def load_predictor(model_path: str, device: str = "auto", amp: bool = False, card: str | None = None,
                   threads: int | None = None, backend: str = "auto") -> Predictor:
    """Load a model file to run: `.onnx` runs on ONNX Runtime (no torch), `.safetensors` is a torch model.

    Args:
        model_path: the model file, or a bundled model's name (`aerial-landcover`; geoclassify.models.bundled).
        device: "auto", "cpu" or "cuda".
        amp: a torch model runs under autocast (float16 on CUDA, bfloat16 on the CPU).
        card: a card JSON file for an ONNX model that carries none (one not exported by geoclassify).
        threads: ONNX Runtime's intra-op threads (torch takes its thread count from torch.set_num_threads).
        backend: "auto", "torch" or "onnx": what runs a bundled model (`geoclassify.models.bundled.choose_backend`);
            a model file runs on its format's backend.

    Returns:
        The predictor, its `source` set to the files it was loaded from.

    Raises:
        InputError: the model file or the card file is missing.
        ModelFileError: the model file's suffix is unknown, or it is damaged, carries no card, or does not fit
            its card; or a name that no bundled model has.
        ConfigError: it is a Keras model file (run its ONNX export), a card file was given for a torch model,
            `device` is invalid or unavailable, or `backend` is unknown or not the model file's.
        GeoclassifyError: torch (the torch extra), needed for a `.safetensors` model, is not installed.
    """
    from geoclassify.models.bundled import resolve_model

    model_path = resolve_model(model_path, backend, device)
    predictor: Predictor
    if runnable_format(model_path) == "onnx":
        from geoclassify.inference.onnx_backend import OnnxPredictor

        predictor = OnnxPredictor(model_path, device=device, card_path=card, threads=threads)
        if amp:
            log.warning("--amp applies to the torch backend; ONNX Runtime runs %s as it is", model_path)
        log.debug("model %s: ONNX Runtime, %s", model_path, predictor.session.get_providers()[0])
    else:
        model_files.refuse_card_file(model_path, card)
        model, model_card = model_files.load_model(model_path)
        predictor = TorchPredictor(model, model_card, device=device, amp=amp)
        log.debug("model %s: torch, %s", model_path, predictor.device)
    predictor.source = model_identity(model_path, card)
    return predictor


def model_identity(model_path: str, card: str | None = None) -> dict:
    """The model file (and card file) a predictor was loaded from, as the resume manifest records them.

    Args:
        model_path: the model file.
        card: the card file given with it, or None.

    Returns:
        {"file": identity of the model file, "card": identity of the card file or None}.
    """
    from geoclassify.io.identity import file_identity

    return {"file": file_identity(model_path), "card": file_identity(card) if card else None}


def read_model_card(model_path: str, card: str | None = None) -> ModelCard:
    """The card of a model that geoclassify can run, without loading its weights (for a client whose workers
    run the model).

    Args:
        model_path: a `.safetensors` or `.onnx` model file.
        card: a card JSON file for an ONNX model that carries none.

    Returns:
        The card.

    Raises:
        InputError: the model file or the card file is missing.
        ModelFileError: the suffix is unknown, or the file is damaged or carries no card.
        ConfigError: it is a Keras model file (run its ONNX export), or a card file was given for a torch model.
        GeoclassifyError: onnxruntime, needed for an ONNX model, is not installed.
    """
    runnable_format(model_path)
    return model_files.read_model_card(model_path, card)
