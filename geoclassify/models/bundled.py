"""The models shipped inside the package, chosen by name (`geoclassify predict scene.tif -m aerial-landcover`).

Each is a float16 `.safetensors` model file under `geoclassify/weights/` whose card says what it was trained on,
how it was split and measured, its licence and the command that trained it (`geoclassify models` lists them).
Imports neither torch nor any model code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from geoclassify.errors import ModelFileError

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
BUNDLED = {
    "agri-s2-rgb": "agri_s2_rgb_compact.safetensors",  # agricultural / non-agricultural, Sentinel-2 RGB, 10 m
    "aerial-scenes": "aerial_scenes_lite.safetensors",  # AID's 30 aerial scene classes
    "aerial-landcover": "aerial_landcover_unet.safetensors",  # Dubai aerial land cover, per pixel
}
DEFAULT = "agri-s2-rgb"


def bundled_path(name: str) -> Path:
    """The model file of the bundled model `name`.

    Args:
        name: one of BUNDLED's names.

    Returns:
        Its path inside the installed package.

    Raises:
        ModelFileError: no bundled model has that name, or its file is missing from the installation.
    """
    if name not in BUNDLED:
        raise ModelFileError(f"no bundled model is called {name!r}; bundled: {', '.join(BUNDLED)}")
    path = WEIGHTS / BUNDLED[name]
    if not path.is_file():
        raise ModelFileError(f"the bundled model {name} is missing at {path}; reinstall geoclassify")
    return path


def resolve_model(model: str | None) -> str:
    """A model argument as a model file: a bundled model's name becomes its path; None, the default model's.

    Args:
        model: a model file's path, a bundled model's name, or None.

    Returns:
        The model file's path (a path given is returned unchanged, whether or not it exists).

    Raises:
        ModelFileError: a bundled model's file is missing from the installation, or `model` has no suffix, does not
            exist and names no bundled model.
    """
    if model is None:
        return str(bundled_path(DEFAULT))
    if model in BUNDLED:
        return str(bundled_path(model))
    if not Path(model).suffix and not Path(model).exists():  # a name, not a model file's path
        raise ModelFileError(f"no bundled model is called {model!r} (bundled: {', '.join(BUNDLED)}); a model file's "
                             "name ends in .safetensors, .onnx or .keras")
    return model


def describe_bundled(name: str) -> dict[str, Any]:
    """A bundled model as plain data (what `geoclassify models --json` prints for it).

    Args:
        name: one of BUNDLED's names.

    Returns:
        name, default (bool), task, architecture, classes (names), colors ([r, g, b] per class), bands (1-based
        indexes), band_names, gsd (metres or None), tile_size (pixels), stride (a stride in scene pixels that gives
        a fine chip map: a quarter of the chip; None for segmentation, whose tiles are blended), file (the model
        file's path), test (the test figures of its card) and data (what it was trained on).

    Raises:
        ModelFileError: no bundled model has that name, or its file is missing or unreadable.
    """
    from geoclassify.models.files import read_model_card

    path = bundled_path(name)
    card = read_model_card(path)
    return {
        "name": name, "default": name == DEFAULT, "task": card.task, "architecture": card.architecture,
        "classes": list(card.class_names), "colors": [list(c) for c in card.class_colors],
        "bands": list(card.bands), "band_names": list(card.band_names), "gsd": card.gsd,
        "tile_size": card.tile_size, "stride": fine_map_stride(card.task, card.tile_size), "file": str(path),
        "test": {k[5:]: v for k, v in card.provenance.items() if k.startswith("test_")},
        "data": card.provenance.get("data"),
    }


def fine_map_stride(task: str, tile_size: int) -> int | None:
    """A stride (scene pixels) that gives a map a person would want from a chip classifier: a quarter of the chip.

    Args:
        task: "classification" or "segmentation".
        tile_size: the model's chip size in pixels.

    Returns:
        max(1, tile_size // 4) for a chip classifier; None for segmentation (every pixel is classified already).
    """
    return max(1, tile_size // 4) if task == "classification" else None
