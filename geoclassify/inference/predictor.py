"""Model backends: turn batches of raw pixel windows into class probabilities."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Protocol

import numpy as np

from geoclassify.errors import ConfigError
from geoclassify.models.card import ModelCard

if TYPE_CHECKING:  # torch loads only for torch models: an ONNX model runs without it
    import torch
    import torch.nn as nn

log = logging.getLogger("geoclassify")


class Predictor(Protocol):
    card: ModelCard
    source: dict | None  # the files it was loaded from (set by load_predictor)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(n, bands, h, w) raw pixels -> (n, classes) or (n, classes, h, w) probabilities, float32."""


def resolve_device(device: str) -> "torch.device":
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but no CUDA GPU is available; use --device cpu or auto")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda, not {device!r}")
    return torch.device(device)


class TorchPredictor:
    """Runs a torch model in inference mode: normalisation on the device, channels_last, optional AMP."""

    def __init__(self, model: "nn.Module", card: ModelCard, device: str = "auto", amp: bool = False):
        import torch

        self.card = card
        self.device = resolve_device(device)
        if amp and self.device.type == "cpu":
            log.warning("--amp on the CPU uses bfloat16 autocast, which is much slower on CPUs without bf16 "
                        "instructions; AMP is meant for CUDA")
        self.amp = amp
        self.model = model.to(self.device).eval().to(memory_format=torch.channels_last)
        shape = (1, len(card.bands), 1, 1)
        self.mean = torch.tensor(card.mean, dtype=torch.float32, device=self.device).view(shape)
        self.std = torch.tensor(card.std, dtype=torch.float32, device=self.device).view(shape)

    def _autocast(self):
        import torch

        if not self.amp:
            return contextlib.nullcontext()
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device, non_blocking=True).float()
            x = ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
            with self._autocast():
                logits = self.model(x)
            return F.softmax(logits.float(), dim=1).cpu().numpy()


def load_predictor(model_path: str, device: str = "auto", amp: bool = False, card: str | None = None,
                   threads: int | None = None) -> Predictor:
    """The backend follows the file: `.onnx` runs on ONNX Runtime (no torch), anything else is a torch model file.

    `card`: a card JSON file for an ONNX model that carries none (one not exported by geoclassify).
    `threads`: ONNX Runtime's intra-op threads (torch takes its thread count from torch.set_num_threads).
    """
    from geoclassify.inference.onnx_backend import OnnxPredictor, is_onnx
    from geoclassify.models.keras_file import is_keras, onnx_beside

    if is_keras(model_path):
        raise ConfigError(onnx_beside(model_path))
    if is_onnx(model_path):
        predictor = OnnxPredictor(model_path, device=device, card_path=card, threads=threads)
    else:
        refuse_card_file(model_path, card)
        from geoclassify.models.files import load_model

        model, model_card = load_model(model_path)
        predictor = TorchPredictor(model, model_card, device=device, amp=amp)
    predictor.source = model_identity(model_path, card)
    return predictor


def model_identity(model_path: str, card: str | None = None) -> dict:
    """The model file (and card file) a predictor was loaded from, as the resume manifest records them."""
    from geoclassify.inference.resume import file_identity

    return {"file": file_identity(model_path), "card": file_identity(card) if card else None}


def refuse_card_file(model_path: str, card: str | None) -> None:
    if card is not None:
        raise ConfigError(f"--card {card} applies to ONNX models only; {model_path} carries its own card")


def read_model_card(model_path: str, card: str | None = None) -> ModelCard:
    """A model's card without loading its weights (for a client whose workers run the model)."""
    from geoclassify.inference.onnx_backend import card_from_session, is_onnx, open_session

    if is_onnx(model_path):
        return card_from_session(open_session(model_path), model_path, card)
    refuse_card_file(model_path, card)
    from geoclassify.models.files import read_card

    return read_card(model_path)
