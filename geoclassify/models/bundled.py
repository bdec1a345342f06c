"""The models shipped inside the package, chosen by name (`geoclassify predict scene.tif -m aerial-landcover`).

Each is shipped twice under `geoclassify/weights/`, with the same card (what it was trained on, how it was split
and measured, its licence and the command that trained it; `geoclassify models` lists them):
- `STEM.safetensors`: float16 weights for the torch backend (the torch extra);
- `STEM.onnx`: the same weights for ONNX Runtime, which the core install runs (scripts/bundle_onnx.py writes it).

Which one runs (`--backend auto`) is chosen by measurement (benchmarks/bench_backends.py, benchmarks/RESULTS.md):
each model's faster backend on a CPU, where it is installed; torch on a CUDA GPU where torch is installed.
Imports neither torch nor any model code.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from geoclassify.errors import ConfigError, ModelFileError
from geoclassify.optional import has_extra

Backend = Literal["torch", "onnx"]
BACKENDS = ("auto", "torch", "onnx")
WEIGHTS = Path(__file__).resolve().parent.parent / "weights"


@dataclass(frozen=True)
class BundledModel:
    """A bundled model's files and the backend measured faster for it on a CPU."""

    stem: str  # its files: WEIGHTS/STEM.safetensors and WEIGHTS/STEM.onnx
    cpu_backend: Backend  # the faster of the two on a CPU (benchmarks/bench_backends.py)


BUNDLED = {
    "agri-s2-rgb": BundledModel("agri_s2_rgb_compact", "onnx"),  # agricultural / non-agricultural chips, S2 RGB
    "aerial-scenes": BundledModel("aerial_scenes_lite", "onnx"),  # AID's 30 aerial scene classes
    "aerial-landcover": BundledModel("aerial_landcover_unet", "onnx"),  # Dubai aerial land cover, per pixel
}
DEFAULT = "agri-s2-rgb"


def bundled_path(name: str, backend: Backend = "torch", must_exist: bool = True) -> Path:
    """The model file of the bundled model `name` for a backend.

    Args:
        name: one of BUNDLED's names.
        backend: "torch" (the `.safetensors` file) or "onnx" (the `.onnx` file).
        must_exist: refuse a file missing from the installation.

    Returns:
        Its path inside the installed package.

    Raises:
        ModelFileError: no bundled model has that name, or (with `must_exist`) its file is missing.
    """
    if name not in BUNDLED:
        raise ModelFileError(f"no bundled model is called {name!r}; bundled: {', '.join(BUNDLED)}")
    path = WEIGHTS / (BUNDLED[name].stem + (".safetensors" if backend == "torch" else ".onnx"))
    if must_exist and not path.is_file():
        raise ModelFileError(f"the bundled model {name} is missing at {path}; reinstall geoclassify")
    return path


def torch_cuda_usable() -> bool:
    """Whether torch can run on a CUDA GPU here; torch is imported only where an NVIDIA driver is present, so a
    machine without one pays nothing for asking."""
    if not (Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi")):
        return False
    import torch

    return bool(torch.cuda.is_available())


def check_backend(backend: str) -> None:
    """Refuse a backend that is none of BACKENDS.

    Raises:
        ConfigError: `backend` is not "auto", "torch" or "onnx".
    """
    if backend not in BACKENDS:
        raise ConfigError(f"--backend must be one of {', '.join(BACKENDS)}, not {backend!r}")


def choose_backend(name: str, backend: str = "auto", device: str = "auto") -> Backend:
    """The backend that runs a bundled model.

    Args:
        name: one of BUNDLED's names.
        backend: "auto", "torch" or "onnx"; "auto" takes torch on a CUDA GPU (--device cuda, or auto where torch
            can use one) where torch is installed, else the model's faster backend on a CPU where it is installed,
            else ONNX Runtime (the core install).
        device: "auto", "cpu" or "cuda".

    Returns:
        "torch" or "onnx".

    Raises:
        ConfigError: `backend` is none of the three.
    """
    check_backend(backend)
    if backend != "auto":
        return backend  # type: ignore[return-value]
    if not has_extra("torch"):
        return "onnx"
    if device == "cuda" or (device == "auto" and torch_cuda_usable()):
        return "torch"
    return BUNDLED[name].cpu_backend


def resolve_model(model: str | None, backend: str = "auto", device: str = "auto") -> str:
    """A model argument as the model file to run: a bundled model's name becomes its file for the backend chosen;
    None, the default model's.

    Args:
        model: a model file's path, a bundled model's name, or None.
        backend: "auto", "torch" or "onnx" (see `choose_backend`); for a model file, "auto" or the backend its
            format runs on (.safetensors: torch; .onnx, .keras: ONNX Runtime).
        device: "auto", "cpu" or "cuda".

    Returns:
        The model file's path (a path given is returned unchanged, whether or not it exists).

    Raises:
        ModelFileError: a bundled model's file is missing from the installation, or `model` has no suffix, does not
            exist and names no bundled model.
        ConfigError: `backend` is unknown, or is not the one a model file's format runs on.
    """
    name = DEFAULT if model is None else model
    if name in BUNDLED:
        return str(bundled_path(name, choose_backend(name, backend, device)))
    if not Path(name).suffix and not Path(name).exists():  # a name, not a model file's path
        raise ModelFileError(f"no bundled model is called {name!r} (bundled: {', '.join(BUNDLED)}); a model file's "
                             "name ends in .safetensors, .onnx or .keras")
    from geoclassify.models.files import FORMATS, backend_of  # files imports this module

    check_backend(backend)
    fmt = FORMATS.get(Path(name).suffix.lower())
    if backend != "auto" and fmt is not None and backend != (runs_on := backend_of(name)):
        kind = {"safetensors": "a torch model file", "onnx": "an ONNX model file, run by ONNX Runtime",
                "keras": "a Keras model file, run through its ONNX export"}[fmt]
        hint = (f"export it first (the torch extra): geoclassify export {name} -o model.onnx" if runs_on == "torch"
                else "run the .safetensors model file it was exported from")
        raise ConfigError(f"--backend {backend} cannot run {name}: it is {kind}; {hint}")
    return name


def describe_bundled(name: str) -> dict[str, Any]:
    """A bundled model as plain data (what `geoclassify models --json` prints for it).

    Args:
        name: one of BUNDLED's names.

    Returns:
        name, default (bool), task, architecture, classes (names), colors ([r, g, b] per class), bands (1-based
        indexes), band_names, gsd (metres or None), tile_size (pixels), stride (a stride in scene pixels that gives
        a fine chip map: a quarter of the chip; None for segmentation, whose tiles are blended), files (the model
        file for each backend: {"torch": path, "onnx": path}), test (the test figures of its card) and data
        (what it was trained on).

    Raises:
        ModelFileError: no bundled model has that name, or its file is missing or unreadable.
    """
    from geoclassify.models.files import read_model_card

    path = bundled_path(name)
    card = read_model_card(path)  # the same card is in both files; safetensors' header reads fastest
    return {
        "name": name, "default": name == DEFAULT, "task": card.task, "architecture": card.architecture,
        "classes": list(card.class_names), "colors": [list(c) for c in card.class_colors],
        "bands": list(card.bands), "band_names": list(card.band_names), "gsd": card.gsd,
        "tile_size": card.tile_size, "stride": fine_map_stride(card.task, card.tile_size),
        "files": {backend: str(bundled_path(name, backend, must_exist=False)) for backend in ("torch", "onnx")},
        "test": card.test_figures(),
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
