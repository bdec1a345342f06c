"""The models shipped inside the package, chosen by name (`geoclassify predict scene.tif -m aerial-landcover`).

Each is a float16 `.safetensors` model file under `geoclassify/weights/` whose card says what it was trained on,
how it was split and measured, its licence and the command that trained it (`geoclassify models` lists them).
Imports neither torch nor any model code.
"""

from __future__ import annotations

from pathlib import Path

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
