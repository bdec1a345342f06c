"""The ModelCard: everything `predict` needs to know about a model, stored inside the model file."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from geoclassify.errors import ModelFileError

TASKS = ("classification", "segmentation")
CARD_FORMAT = 1
CARD_KEY = "geoclassify_card"  # metadata key holding the card in model files (safetensors and ONNX)


@dataclass(frozen=True)
class ModelCard:
    """Describes a model: architecture, task, classes, expected input and provenance.

    `bands` are 1-based band indexes of the scene, in the order the model wants them;
    `mean`/`std` normalise raw pixel values per band: (value - mean) / std.
    `gsd` is the ground sampling distance in metres the model was trained at (None: any).
    `receptive_margin` is, for segmentation, how many pixels at a tile edge are unreliable.
    `band_names` name the bands (STAC common names: red, green, blue, nir ...): predict finds them in a scene by
    name where the scene names its bands.
    `reflectance_scale` says what the input values are: surface reflectance times this (1275 for 8-bit true
    colour where 255 is reflectance 0.2, as the Sentinel-2 L2A TCI; 1 for reflectance itself), clipped to
    `value_range`; predict converts the digital numbers of known products to it. None: the scene's raw values, of
    `dtype`, as they are. `radiometry` says it in words, with its evidence.
    """

    architecture: str
    task: str
    class_names: tuple[str, ...]
    class_colors: tuple[tuple[int, int, int], ...]
    bands: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    tile_size: int
    dtype: str = "uint8"
    gsd: float | None = None
    band_names: tuple[str, ...] = ()
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    receptive_margin: int = 0
    reflectance_scale: float | None = None
    value_range: tuple[float, float] | None = None
    radiometry: str = ""
    nodata_policy: str = "skip windows that are all nodata; nodata pixels get the output nodata"
    provenance: dict[str, Any] = field(default_factory=dict)
    format_version: int = CARD_FORMAT

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ModelFileError(f"model card task {self.task!r} is not one of {TASKS}")
        n = len(self.class_names)
        if n < 1 or n > 255:
            raise ModelFileError(f"model card has {n} classes; 1 to 255 are supported")
        if len(self.class_colors) != n:
            raise ModelFileError(f"model card has {n} class names but {len(self.class_colors)} colours")
        if not (len(self.bands) == len(self.mean) == len(self.std)) or not self.bands:
            raise ModelFileError("model card bands, mean and std must have the same, non-zero length")
        if self.band_names and len(self.band_names) != len(self.bands):
            raise ModelFileError(f"model card names {len(self.band_names)} bands but lists {len(self.bands)}")
        if self.reflectance_scale is not None and not self.reflectance_scale > 0:
            raise ModelFileError(f"model card reflectance_scale must be positive, got {self.reflectance_scale}")
        if self.value_range is not None and not self.value_range[0] < self.value_range[1]:
            raise ModelFileError(f"model card value_range must be (low, high), got {self.value_range}")
        if self.tile_size < 1:
            raise ModelFileError(f"model card tile_size must be positive, got {self.tile_size}")

    @property
    def num_classes(self) -> int:
        """How many classes the model predicts."""
        return len(self.class_names)

    @property
    def in_channels(self) -> int:
        """How many bands the model takes."""
        return len(self.bands)

    def input_values(self) -> str:
        """What the model's input values are, in words."""
        if self.reflectance_scale is None:
            return f"the scene's raw {self.dtype} values, as they are"
        clip = f", clipped to {self.value_range[0]:g}-{self.value_range[1]:g}" if self.value_range else ""
        note = f" ({self.radiometry})" if self.radiometry else ""
        times = "" if self.reflectance_scale == 1 else f" x {self.reflectance_scale:g}"
        return f"surface reflectance{times}{clip}{note}"

    def to_json(self) -> str:
        """The card as JSON, keys sorted (what `from_json` reads back)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelCard":
        """Parse a card, refusing unknown structure with a clear error."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"model card is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ModelFileError("model card must be a JSON object")
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        try:
            data["class_names"] = tuple(data["class_names"])
            data["class_colors"] = tuple(tuple(int(c) for c in rgb) for rgb in data["class_colors"])
            for key in ("bands", "mean", "std", "band_names"):
                if key in data:
                    data[key] = tuple(data[key])
            if data.get("value_range") is not None:
                data["value_range"] = tuple(float(v) for v in data["value_range"])
            return cls(**data)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ModelFileError):
                raise
            raise ModelFileError(f"model card is incomplete or malformed: {exc}") from None

    def test_figures(self) -> dict[str, Any]:
        """The test figures its provenance records (`test_accuracy` -> "accuracy"), in their order."""
        return {k[5:]: v for k, v in self.provenance.items() if k.startswith("test_")}

    def gsd_text(self) -> str:
        """The GSD in words: "10 m", or that the model has none (predict keeps the scene's pixel size)."""
        return f"{self.gsd:g} m" if self.gsd is not None else "none (predict keeps the pixel size)"

    def describe(self) -> str:
        """A human-readable multi-line summary."""
        lines = [
            f"architecture: {self.architecture}",
            f"task: {self.task}",
            "classes: " + ", ".join(f"{i}={n}" for i, n in enumerate(self.class_names)),
            f"bands: {list(self.bands)}" + (f" ({', '.join(self.band_names)})" if self.band_names else ""),
            f"dtype: {self.dtype}",
            f"input values: {self.input_values()}",
            f"normalisation: mean={list(self.mean)} std={list(self.std)}",
            f"tile size: {self.tile_size}",
            f"gsd: {self.gsd_text()}",
            f"nodata policy: {self.nodata_policy}",
        ]
        for key, value in sorted(self.provenance.items()):
            lines.append(f"provenance.{key}: {value}")
        return "\n".join(lines)


def with_provenance(card: ModelCard, **extra: Any) -> ModelCard:
    """A copy of `card` with `extra` added to (or replacing keys of) its provenance."""
    return dataclasses.replace(card, provenance={**card.provenance, **extra})
