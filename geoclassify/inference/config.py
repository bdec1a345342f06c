"""What a prediction is asked to do: its options (`PredictConfig`), a scene's outputs (`SceneOutputs`) and the
model as a worker loads it (`ModelSource`). Each rule on an option is checked once, here, when it is made."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from geoclassify.errors import ConfigError
from geoclassify.io.identity import is_local_path

if TYPE_CHECKING:
    from geoclassify.inference.predictor import Predictor

DEVICES = ("auto", "cpu", "cuda")
PROBABILITY_DTYPES = ("uint8", "float32")


def _at_least(name: str, value: float | None, low: float) -> None:
    if value is not None and value < low:
        raise ConfigError(f"--{name.replace('_', '-')} must be at least {low:g}, got {value}")


@dataclass(frozen=True)
class LoopOptions:
    """What the window loop needs besides the layout: windows per model call, strips read ahead, read threads, and
    for chip classifiers whether to run fully convolutionally, with tiles of about
    `pixels_per_call` pixels (`geoclassify.inference.dense_chips`)."""

    batch_size: int = 64
    prefetch: int = 1
    read_workers: int = 2
    fully_convolutional: bool = False
    pixels_per_call: int = 262_144

    def __post_init__(self) -> None:
        for name in ("batch_size", "prefetch", "read_workers", "pixels_per_call"):
            _at_least(name, getattr(self, name), 1)


@dataclass(frozen=True)
class PredictConfig:
    """Options of one prediction (the CLI's flags map onto these one to one).

    Attributes:
        bands: the scene's bands fed to the model, in the model's order: 1-based numbers, or names (common names
            such as "red", band ids such as "B04"); default: the card's, by name where the scene names its bands.
        product: the product the scene's digital numbers come from (sentinel2-l2a, sentinel2-l1c, landsat-c2-l2),
            for a scene that does not say it itself; its values are converted to the model's (reflectance) input.
        stride: chip classifiers: output pixel size in scene pixels (default: the chip size).
        tile_size, overlap: segmentation: tile size and overlap of neighbouring tiles, in pixels.
        batch_size: windows per model call (None: as many as a budget of pixels per call allows, measured for
            the backend and device: `geoclassify.inference.batching`).
        fully_convolutional: chip classifiers: compute the features of overlapping chips once, over tiles of many
            chips, and average them per chip (`geoclassify.inference.dense_chips`; faster, not the same classes);
            default: each chip alone.
        resample: resample the scene to the model's GSD (metres) when its ground pixel differs.
        probabilities_dtype: uint8 (probability x 255) or float32 (NaN on nodata).
        cog: write Cloud Optimized GeoTIFFs.
        overwrite: replace existing outputs.
        read_workers, prefetch: threads reading the scene; strips read ahead of the model.
        resume: continue an interrupted run from its partial output.
        checkpoint_seconds: how often the partial output is saved for `resume`.

    Raises:
        ConfigError: a value out of its range (batch size, stride, tile size under 1; overlap or checkpoint
            interval under 0; an unknown probabilities dtype; band numbers under 1, unknown band names; an unknown
            product).
    """

    bands: tuple[int | str, ...] | None = None
    product: str | None = None
    stride: int | None = None
    tile_size: int | None = None
    overlap: int | None = None
    batch_size: int | None = None
    fully_convolutional: bool = False
    resample: bool = True
    probabilities_dtype: str = "uint8"
    cog: bool = False
    overwrite: bool = False
    read_workers: int = 2
    prefetch: int = 1
    resume: bool = False
    checkpoint_seconds: float = 10.0

    def __post_init__(self) -> None:
        _at_least("stride", self.stride, 1)
        _at_least("tile_size", self.tile_size, 1)
        LoopOptions(1 if self.batch_size is None else self.batch_size, self.prefetch, self.read_workers)  # checks them
        _at_least("overlap", self.overlap, 0)
        _at_least("checkpoint_seconds", self.checkpoint_seconds, 0)
        if self.probabilities_dtype not in PROBABILITY_DTYPES:
            raise ConfigError(f"--probabilities-dtype must be uint8 or float32, not {self.probabilities_dtype!r}")
        if self.bands is not None:
            numbers = [b for b in self.bands if isinstance(b, int)]
            if not self.bands or (numbers and min(numbers) < 1):
                raise ConfigError(f"--bands: band numbers start at 1, got {list(self.bands)}")
            from geoclassify.io.bands import is_band_name

            unknown = [b for b in self.bands if isinstance(b, str) and not is_band_name(b)]
            if unknown:
                raise ConfigError(f"--bands: {', '.join(map(repr, unknown))} is not a band number, a STAC common "
                                  "name (red, green, blue, nir, swir16 ...) or a band id (B04, B8A, SR_B4)")
            object.__setattr__(self, "bands", tuple(self.bands))
        if self.product is not None:
            from geoclassify.io.radiometry import product_radiometry

            product_radiometry(self.product)  # an unknown product is refused here, before any work

    def loop(self, window: int, pixels_per_call: int) -> LoopOptions:
        """The window loop's options: batch size, read-ahead and read threads.

        Args:
            window: the side of the layout's windows in pixels.
            pixels_per_call: the runner's budget of pixels per model call, for a batch size not given and for the
                tiles of a fully convolutional chip classifier.

        Returns:
            The options; the batch size given, or the windows that fit the budget.
        """
        from geoclassify.inference.batching import windows_per_call

        batch = windows_per_call(window, pixels_per_call) if self.batch_size is None else self.batch_size
        return LoopOptions(batch, self.prefetch, self.read_workers, self.fully_convolutional, pixels_per_call)


@dataclass(frozen=True)
class SceneOutputs:
    """The files one scene's prediction writes: the classes raster, and optionally probabilities and polygons."""

    classes: Path
    probabilities: Path | None = None
    vector: Path | None = None

    def __post_init__(self) -> None:
        for name in ("classes", "probabilities", "vector"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))

    @property
    def rasters(self) -> list[Path]:
        """The raster outputs: classes, then probabilities when asked for."""
        return [p for p in (self.classes, self.probabilities) if p is not None]

    @property
    def files(self) -> list[Path]:
        """Every output file: the rasters, then the polygons when asked for."""
        return self.rasters + ([self.vector] if self.vector is not None else [])


@dataclass(frozen=True)
class ModelSource:
    """A model file and how to run it: what a process needs to load it (a Dask worker loads it from this).

    Attributes:
        path: the model file (.safetensors, .onnx, .keras's ONNX twin); on a cluster, a path every worker reads.
        device: auto, cpu or cuda.
        amp: mixed precision (float16 autocast on CUDA).
        card: a card JSON for an ONNX model not exported by geoclassify.
        threads: the model's threads (default: the process's own setting).

    Raises:
        ConfigError: an unknown device, or threads under 1.
    """

    path: str
    device: str = "auto"
    amp: bool = False
    card: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ConfigError(f"--device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        _at_least("threads", self.threads, 1)

    def absolute(self) -> ModelSource:
        """The same source with paths a worker elsewhere can open (absolute, unless URLs or GDAL paths)."""
        return ModelSource(absolute(self.path), self.device, self.amp, absolute(self.card) if self.card else None,
                           self.threads)

    def load(self) -> Predictor:
        """The model, ready to predict (see `load_predictor` for what it raises)."""
        from geoclassify.inference.predictor import load_predictor

        return load_predictor(self.path, device=self.device, amp=self.amp, card=self.card, threads=self.threads)


def absolute(path: str) -> str:
    """A path as a worker elsewhere must see it: absolute, unless it is a GDAL virtual path or a URL."""
    return os.path.abspath(path) if is_local_path(path) else path
