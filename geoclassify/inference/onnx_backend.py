"""ONNX Runtime backend: runs exported (or foreign) ONNX models without torch.

An ONNX file written by `geoclassify export` holds the model card as JSON in its metadata
(key `geoclassify_card`); its graph takes normalised float32 NCHW input and returns logits.
A foreign ONNX file runs only with an explicit card (`--card card.json`), under the same contract.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from geoclassify.errors import ConfigError, GeoclassifyError, InputError, ModelFileError
from geoclassify.models.card import CARD_KEY, ModelCard

log = logging.getLogger("geoclassify")


def is_onnx(path: str | Path) -> bool:
    """Whether a model file is an ONNX model (run by ONNX Runtime) rather than a torch model file."""
    return Path(path).suffix.lower() == ".onnx"


def import_onnxruntime():
    """onnxruntime, or a clear error naming the extra that installs it."""
    try:
        import onnxruntime
    except ImportError:
        raise GeoclassifyError("ONNX models need onnxruntime: pip install 'geoclassify[onnx]'") from None
    return onnxruntime


def providers_for(device: str) -> list[str]:
    """ONNX Runtime execution providers for --device auto|cpu|cuda."""
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda, not {device!r}")
    available = import_onnxruntime().get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise ConfigError("--device cuda was asked for, but this onnxruntime has no CUDA provider; "
                          "use --device cpu, or install onnxruntime-gpu")
    if device != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def open_session(path: str | Path, device: str = "cpu", threads: int | None = None):
    """An InferenceSession for a model file, with file errors turned into one clear line."""
    ort = import_onnxruntime()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model file not found: {path}")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=providers_for(device))
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"{path} is not a readable ONNX model: {first}") from None


def card_from_session(session, path: str | Path, card_path: str | None = None) -> ModelCard:
    """The card embedded by `geoclassify export`, or the one given with --card (which wins)."""
    if card_path is not None:
        try:
            return ModelCard.from_json(Path(card_path).read_text())
        except OSError:
            raise InputError(f"card file not found or unreadable: {card_path}") from None
    embedded = session.get_modelmeta().custom_metadata_map.get(CARD_KEY)
    if embedded is None:
        raise ModelFileError(f"{path} is an ONNX model that geoclassify did not export (no model card); "
                             "run it with --card card.json (see `geoclassify info --json MODEL` for the format)")
    return ModelCard.from_json(embedded)


def read_onnx_card(path: str | Path) -> ModelCard:
    """Read the model card of an ONNX model file."""
    return card_from_session(open_session(path), path)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the class axis (1), in float32."""
    z = logits.astype(np.float32) - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    return z / z.sum(axis=1, keepdims=True)


class OnnxPredictor:
    """Normalises raw pixels with the card, runs the ONNX graph and turns logits into probabilities."""

    def __init__(self, path: str | Path, device: str = "auto", card_path: str | None = None,
                 threads: int | None = None):
        self.path = Path(path)
        self.session = open_session(self.path, device, threads)
        self.card = card_from_session(self.session, self.path, card_path)
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelFileError(f"{self.path} has {len(inputs)} inputs; geoclassify runs models with one image input")
        self.input_name = inputs[0].name
        channels = inputs[0].shape[1] if len(inputs[0].shape) == 4 else None
        if isinstance(channels, int) and channels != self.card.in_channels:
            raise ModelFileError(f"{self.path} takes {channels} bands but its card lists {self.card.in_channels}; "
                                 "give a card whose bands match the model")
        shape = (1, self.card.in_channels, 1, 1)
        self.mean = np.asarray(self.card.mean, np.float32).reshape(shape)
        self.std = np.asarray(self.card.std, np.float32).reshape(shape)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        x = (batch.astype(np.float32) - self.mean) / self.std
        (logits,) = self.session.run(None, {self.input_name: np.ascontiguousarray(x)})[:1]
        if logits.shape[1] != self.card.num_classes:
            raise ModelFileError(f"{self.path} returns {logits.shape[1]} classes but its card lists "
                                 f"{self.card.num_classes}; give a card whose classes match the model")
        return softmax(logits)
