"""Model files: safetensors weights with the ModelCard as JSON in the header metadata.

Opening a model file never runs code from it: safetensors holds only tensors and strings.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from geoclassify.errors import InputError, ModelFileError
from geoclassify.io.atomic import atomic_target
from geoclassify.models.card import CARD_KEY, ModelCard
from geoclassify.models.registry import create_model

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "weights" / "agri_s2_rgb_compact.safetensors"


def save_model(model: nn.Module, card: ModelCard, path: str | os.PathLike) -> None:
    """Write weights and card atomically (temporary file, then rename)."""
    path = Path(path)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_target(path) as tmp:
        save_file(state, str(tmp), metadata={CARD_KEY: card.to_json()})


def _read_header(path: Path) -> dict:
    """Read the safetensors JSON header without touching the tensors."""
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise ModelFileError(f"{path} is not a geoclassify model file (too short)")
        size = int.from_bytes(head, "little")
        if size <= 0 or size > 100_000_000 or size + 8 > path.stat().st_size:
            raise ModelFileError(f"{path} is not a geoclassify model file (no safetensors header)")
        try:
            return json.loads(fh.read(size))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ModelFileError(f"{path} is not a geoclassify model file (bad safetensors header)") from None


def read_card(path: str | os.PathLike) -> ModelCard:
    """Read only the model card of a model file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model file not found: {path}")
    metadata = _read_header(path).get("__metadata__") or {}
    if CARD_KEY not in metadata:
        raise ModelFileError(f"{path} has no geoclassify model card; it was not written by geoclassify")
    return ModelCard.from_json(metadata[CARD_KEY])


def load_model(path: str | os.PathLike) -> tuple[nn.Module, ModelCard]:
    """Build the architecture named in the card and load the weights, in eval mode."""
    path = Path(path)
    card = read_card(path)
    model = create_model(card.architecture, card.in_channels, card.num_classes, **card.arch_kwargs)
    try:
        state = load_file(str(path))
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
    if not DEFAULT_MODEL.is_file():
        raise ModelFileError(f"the bundled default model is missing at {DEFAULT_MODEL}; reinstall geoclassify")
    return DEFAULT_MODEL


__all__ = ["save_model", "load_model", "read_card", "default_model_path"]
