"""Model files: the one place that tells a model file's format, reads its card and loads a torch model from it.

Formats, told by the file's suffix (`model_format`):
- `.safetensors`: a torch model: weights, with the ModelCard as JSON in the header metadata (written by
  `save_model`, loaded by `load_model`);
- `.onnx`: an ONNX graph, run by ONNX Runtime; the card in its metadata (`geoclassify.models.onnx_file`);
- `.keras`: a Keras model (a zip), run through its ONNX export; the card as a zip member
  (`geoclassify.models.keras_file`).

Opening a model file never runs code from it: safetensors holds only tensors and strings. Reading a card
imports no torch; torch loads only to save or load a torch model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from safetensors import SafetensorError, safe_open

from geoclassify.errors import ConfigError, InputError, ModelFileError
from geoclassify.io.atomic import atomic_target
from geoclassify.models.bundled import DEFAULT, bundled_path
from geoclassify.models.card import CARD_KEY, ModelCard
from geoclassify.models.keras_file import read_keras_card
from geoclassify.models.onnx_file import read_onnx_card
from geoclassify.optional import require_extra

if TYPE_CHECKING:
    import torch.nn as nn

ModelFormat = Literal["safetensors", "onnx", "keras"]
FORMATS: dict[str, ModelFormat] = {".safetensors": "safetensors", ".onnx": "onnx", ".keras": "keras"}
PathLike = str | os.PathLike
TORCH_MODELS = "torch-backed runs (.safetensors model files)"


def model_format(path: PathLike) -> ModelFormat:
    """The format of a model file, from its suffix (the file need not exist).

    Args:
        path: a model file.

    Returns:
        "safetensors" (a torch model), "onnx" or "keras".

    Raises:
        ModelFileError: the suffix is none of .safetensors, .onnx and .keras.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ModelFileError(f"{path} is not a model file geoclassify knows: its name must end in .safetensors "
                             "(a torch model), .onnx or .keras")
    return FORMATS[suffix]


def backend_of(path: PathLike) -> Literal["torch", "onnx"]:
    """The backend a model file's format runs on: torch for `.safetensors`, ONNX Runtime for `.onnx` and `.keras`
    (a Keras model runs through its ONNX export).

    Args:
        path: a model file (it need not exist).

    Returns:
        "torch" or "onnx".

    Raises:
        ModelFileError: the suffix is none of .safetensors, .onnx and .keras.
    """
    return "torch" if model_format(path) == "safetensors" else "onnx"


def is_onnx(path: PathLike) -> bool:
    """Whether a model file is an ONNX model (run by ONNX Runtime); False for any other name.

    Args:
        path: a model file.

    Returns:
        True for a `.onnx` file.
    """
    return FORMATS.get(Path(path).suffix.lower()) == "onnx"


def refuse_card_file(model_path: PathLike, card: PathLike | None) -> None:
    """Refuse a card file (`--card`) for a model file that carries its own card.

    Args:
        model_path: a model file that is not ONNX.
        card: the card file given, or None.

    Raises:
        ConfigError: a card file was given.
    """
    if card is not None:
        raise ConfigError(f"--card {card} applies to ONNX models only; {model_path} carries its own card")


def read_model_card(path: PathLike, card: PathLike | None = None) -> ModelCard:
    """The model card of any model file, without loading its weights (and without torch).

    Args:
        path: a `.safetensors`, `.onnx` or `.keras` model file.
        card: for an ONNX model only, a card JSON file to use instead of the card inside (for one that carries
            none: one not exported by geoclassify).

    Returns:
        The card.

    Raises:
        InputError: the model file (or the card file) is missing.
        ModelFileError: the suffix is unknown, the file is damaged or not a model file of its format, or it
            carries no geoclassify card.
        ConfigError: a card file was given for a model that is not ONNX.
        GeoclassifyError: onnxruntime, needed to read an ONNX file, is not installed.
    """
    fmt = model_format(path)
    if fmt == "onnx":
        return read_onnx_card(path, None if card is None else str(card))
    refuse_card_file(path, card)
    if fmt == "keras":
        return read_keras_card(path)
    with _open_safetensors(path, "numpy") as handle:
        return _card_in(handle, Path(path))


def save_model(model: "nn.Module", card: ModelCard, path: PathLike) -> None:
    """Write a torch model's weights and card as a `.safetensors` model file, atomically (temporary file, then
    rename).

    Args:
        model: the model (its state dict is written).
        card: the card to store in the file's metadata.
        path: the model file to write.

    Raises:
        GeoclassifyError: torch (the torch extra) is not installed.
    """
    require_extra("torch", TORCH_MODELS)
    from safetensors.torch import save_file

    path = Path(path)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_target(path) as tmp:
        save_file(state, str(tmp), metadata={CARD_KEY: card.to_json()})


def load_model(path: PathLike) -> tuple["nn.Module", ModelCard]:
    """Build the architecture named in a torch model file's card and load its weights, in eval mode.

    Args:
        path: a `.safetensors` model file.

    Returns:
        The model, in eval mode, and its card.

    Raises:
        InputError: the file is missing.
        ModelFileError: the file is not a `.safetensors` model file, is damaged, carries no card, names an
            architecture that cannot be built, or holds weights that do not fit the architecture.
        GeoclassifyError: torch (the torch extra) is not installed.
    """
    path = Path(path)
    fmt = model_format(path)
    if fmt != "safetensors":
        raise ModelFileError(f"{path} is a {fmt} model file; only .safetensors model files load into torch")
    require_extra("torch", TORCH_MODELS)
    from geoclassify.models.factory import create_model

    with _open_safetensors(path, "pt") as handle:
        card = _card_in(handle, path)
        model = create_model(card.architecture, card.in_channels, card.num_classes, **card.arch_kwargs)
        try:
            state = {name: handle.get_tensor(name) for name in handle.keys()}
        except (SafetensorError, OSError) as exc:
            raise ModelFileError(f"{path} is damaged: {exc}") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelFileError(f"{path}: weights do not match architecture {card.architecture!r}: {first}") from None
    model.eval()
    return model, card


def default_model_path() -> Path:
    """The model bundled with geoclassify that `predict` and `info` use when given none.

    Returns:
        Its path.

    Raises:
        ModelFileError: the bundled default model is missing from the installation.
    """
    return bundled_path(DEFAULT)


def _open_safetensors(path: PathLike, framework: str) -> "safe_open":
    """A safetensors file opened with safetensors' own reader, its header checked; errors as one clear line."""
    if not Path(path).is_file():
        raise InputError(f"model file not found: {path}")
    try:
        return safe_open(str(path), framework)
    except SafetensorError as exc:
        reason = str(exc).removeprefix("Error while deserializing header: ")
        raise ModelFileError(f"{path} is not a geoclassify model file, or it is damaged ({reason})") from None


def _card_in(handle: "safe_open", path: Path) -> ModelCard:
    """The card in an open safetensors file's metadata."""
    metadata = handle.metadata() or {}
    if CARD_KEY not in metadata:
        raise ModelFileError(f"{path} has no geoclassify model card; it was not written by geoclassify")
    return ModelCard.from_json(metadata[CARD_KEY])


__all__ = ["FORMATS", "ModelFormat", "default_model_path", "is_onnx", "load_model", "model_format", "read_model_card",
           "refuse_card_file", "save_model"]
