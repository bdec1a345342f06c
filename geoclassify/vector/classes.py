"""A classification raster read in row strips: one band of integer classes, its class names and nodata mask."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np
from rasterio.windows import Window

from geoclassify.errors import ConfigError, InputError
from geoclassify.geo.grid import Grid
from geoclassify.geo.units import pixel_area_m2, pixel_size_metres
from geoclassify.io.raster import open_dataset

log = logging.getLogger("geoclassify")

SHAPES_DTYPES = ("uint8", "int16", "uint16", "int32")  # what rasterio.features.shapes accepts as integers
FALLBACK_NAME = re.compile(r"class_(\d+)$")


class NotAClassRasterError(InputError):
    """The raster is not one band of integer classes."""


@dataclass(frozen=True)
class Strip:
    """Rows `row` .. `row + height` of the class raster, full width."""

    row: int
    classes: np.ndarray  # (h, w) integer classes
    valid: np.ndarray  # (h, w) bool: not nodata
    confidence: np.ndarray | None = None  # (h, w) probability of each pixel's class, NaN where unknown

    @property
    def height(self) -> int:
        """Rows in the strip."""
        return self.classes.shape[0]

    def with_classes(self, classes: np.ndarray) -> "Strip":
        """The same strip with other (h, w) classes (a sieved copy), mask and confidence kept."""
        return replace(self, classes=classes)


def read_class_names(dataset, path: str) -> list[str]:
    """Class names from band 1's CLASS_NAMES tag (JSON list); [] with a warning when missing."""
    text = dataset.tags(1).get("CLASS_NAMES")
    try:
        names = json.loads(text) if text else None
    except json.JSONDecodeError:
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        log.warning("%s has no class names (band tag CLASS_NAMES): features are named class_<id>", path)
        return []
    return names


class OpenRaster:
    """A raster dataset opened by path, checked by `_check`, closed on leaving a `with` block."""

    def __init__(self, path: str):
        self.path = str(path)
        self.ds = open_dataset(self.path)
        try:
            self._check()
        except BaseException:
            self.ds.close()
            raise
        self.grid = Grid.from_dataset(self.ds)

    def _check(self) -> None:
        """Raise if the dataset is not what is needed."""

    def close(self) -> None:
        """Close the dataset."""
        self.ds.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ClassRaster(OpenRaster):
    """An open class raster: grid, class names, and strips of classes with their validity mask."""

    def __init__(self, path: str):
        super().__init__(path)
        self.names = read_class_names(self.ds, self.path)
        if self.grid.crs is None:
            log.warning("%s has no CRS: the polygons are written without one, and areas and lengths are in the "
                        "raster's units", self.path)

    def _check(self) -> None:
        if self.ds.count != 1:
            raise NotAClassRasterError(f"{self.path} has {self.ds.count} bands; polygonize needs one band of "
                                       f"integer classes (a geoclassify predict output)")
        dtype = np.dtype(self.ds.dtypes[0])
        if dtype.kind not in "iu":
            raise NotAClassRasterError(f"{self.path} holds {dtype} values; polygonize needs one band of integer "
                                       f"classes: classify the scene first (geoclassify predict)")

    @property
    def width(self) -> int:
        """Columns of the raster."""
        return self.grid.width

    @property
    def height(self) -> int:
        """Rows of the raster."""
        return self.grid.height

    def name_of(self, class_id: int) -> str:
        """The name of a class id; class_<id> when the raster names no such class."""
        return self.names[class_id] if 0 <= class_id < len(self.names) else f"class_{class_id}"

    def class_ids(self, names: tuple[str, ...] | None) -> frozenset[int] | None:
        """The class ids of `names` (None: all classes); unknown names are refused with the known ones."""
        if names is None:
            return None
        ids = {name: self.names.index(name) if name in self.names else self._fallback_id(name) for name in names}
        unknown = [name for name, i in ids.items() if i is None]
        if unknown:
            known = ", ".join(self.names) if self.names else "class_<id> (the raster has no class names)"
            raise ConfigError(f"unknown class {', '.join(map(repr, unknown))} in --classes; known classes: {known}")
        return frozenset(i for i in ids.values() if i is not None)

    def _fallback_id(self, name: str) -> int | None:
        match = FALLBACK_NAME.match(name)
        return int(match.group(1)) if match and not self.names else None

    def pixel_size_m(self) -> tuple[float, float]:
        """Ground pixel size (x, y) in metres at the raster's centre (in the raster's units without a CRS)."""
        return pixel_size_metres(self.grid) or self.grid.res

    def pixel_area_m2(self) -> float:
        """Ground area of the raster's centre pixel in m² (in the raster's units without a CRS)."""
        area = pixel_area_m2(self.grid)
        if area is None:
            t = self.grid.transform
            area = abs(t.a * t.e - t.b * t.d)
        return area

    def read(self, row: int, height: int) -> Strip:
        """Rows `row` .. `row + height` as a strip, in a dtype that rasterio.features.shapes accepts."""
        window = Window(0, row, self.width, height)
        classes = self.ds.read(1, window=window)
        if classes.dtype.name not in SHAPES_DTYPES:
            classes = classes.astype(np.int32)
        return Strip(row, classes, self.ds.read_masks(1, window=window) > 0)

    def strips(self, rows: int) -> Iterator[Strip]:
        """The raster in strips of `rows` rows, top to bottom."""
        for row in range(0, self.height, rows):
            yield self.read(row, min(rows, self.height - row))


class ConfidenceRaster(OpenRaster):
    """Per-class probabilities on the class raster's grid, giving each pixel the probability of its class."""

    def __init__(self, path: str, grid: Grid):
        self.expected = grid
        super().__init__(path)
        self.scale = 1 / 255 if self.ds.dtypes[0] == "uint8" else 1.0

    def attach(self, strip: Strip) -> Strip:
        """The strip with `confidence`: the probability band of each pixel's class (0-1), NaN where masked."""
        top = int(strip.classes[strip.valid].max(initial=0))
        if top >= self.ds.count:
            raise InputError(f"class {top} has no band in probabilities {self.path} ({self.ds.count} bands); "
                             f"give the probabilities written with the class raster")
        probs = self.ds.read(window=Window(0, strip.row, strip.classes.shape[1], strip.height), masked=True)
        probs = probs.astype(np.float64).filled(np.nan) * self.scale
        index = np.where(strip.valid, strip.classes, 0).astype(np.intp)[None]
        return replace(strip, confidence=np.take_along_axis(probs, index, axis=0)[0])

    def _check(self) -> None:
        here, grid = Grid.from_dataset(self.ds), self.expected
        if here.shape != grid.shape or not here.transform.almost_equals(grid.transform) or here.crs != grid.crs:
            raise InputError(f"probabilities {self.path} ({here.width}x{here.height}) is not on the class raster's "
                             f"grid ({grid.width}x{grid.height}); give the file written with it by geoclassify predict")
