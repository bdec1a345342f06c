"""Keras model files (`.keras`, a zip) carry the geoclassify card as one more member, readable without TensorFlow.

geoclassify runs Keras-trained models through their ONNX export (`best.onnx` beside `best.keras`), so
`predict`, `evaluate` and `benchmark` need neither TensorFlow nor torch for them.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from geoclassify.errors import InputError, ModelFileError
from geoclassify.models.card import CARD_KEY, ModelCard

CARD_MEMBER = f"{CARD_KEY}.json"


def add_card(path: Path, card: ModelCard) -> None:
    """Append the card to a freshly written `.keras` file (Keras ignores members it does not know).

    Args:
        path: the `.keras` file.
        card: the card to add.
    """
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(CARD_MEMBER, card.to_json())


def read_keras_card(path: str | os.PathLike[str]) -> ModelCard:
    """The model card of a `.keras` file.

    Args:
        path: the `.keras` file.

    Returns:
        The card.

    Raises:
        InputError: the file is missing.
        ModelFileError: the file is not a zip archive, carries no geoclassify card, or the card is malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model file not found: {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            return ModelCard.from_json(archive.read(CARD_MEMBER).decode())
    except KeyError:
        raise ModelFileError(f"{path} is a Keras model without a geoclassify card; it was not written by "
                             "geoclassify") from None
    except zipfile.BadZipFile:
        raise ModelFileError(f"{path} is not a Keras model file (not a zip archive)") from None


def onnx_beside(path: str | os.PathLike[str]) -> str:
    """The message for a `.keras` file given to predict/evaluate/benchmark: run the ONNX file beside it.

    Args:
        path: the `.keras` file.

    Returns:
        One line naming the ONNX file beside it, or saying to export one.
    """
    onnx = Path(path).with_suffix(".onnx")
    hint = f"use {onnx}" if onnx.is_file() else "export it to ONNX first"
    return f"{path} is a Keras model file; geoclassify runs Keras models as ONNX: {hint}"
