"""Label polygons (GeoPackage, GeoJSON, ...) rasterized window by window onto a scene's grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rasterio.features import rasterize
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds
from rasterio.windows import transform as window_transform

from geoclassify.errors import ConfigError, InputError


class PolygonLabels:
    """Polygons with a class each; pixels outside every polygon get class 0 (the background class).

    `class_field` names the attribute holding class names; without it every polygon is class 1.
    """

    def __init__(self, path: str, crs, class_names: list[str], class_field: str = ""):
        import geopandas
        import shapely

        try:
            frame = geopandas.read_file(path)
        except Exception as exc:  # noqa: BLE001 - pyogrio raises several types for unreadable files
            raise InputError(f"cannot read label polygons {path}: {exc}") from None
        if frame.crs is not None and crs is not None and frame.crs != crs:
            frame = frame.to_crs(crs)
        frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
        if class_field:
            if class_field not in frame.columns:
                raise ConfigError(f"{path} has no attribute {class_field!r}; "
                                  f"it has {', '.join(map(str, frame.columns))}")
            names = frame[class_field].astype(str)
            unknown = sorted(set(names) - set(class_names[1:]))
            if unknown:
                raise InputError(f"{path}: classes {unknown} in {class_field!r} are not among the configured "
                                 f"classes {class_names[1:]}")
            values = np.array([class_names.index(n) for n in names], dtype=np.uint8)
        else:
            values = np.ones(len(frame), dtype=np.uint8)
        self.geoms = np.asarray(frame.geometry.values)
        self.values = values
        self.tree = shapely.STRtree(self.geoms)
        self.bounds = tuple(frame.total_bounds) if len(frame) else None
        self.path = Path(path)

    def read(self, transform, window: Window) -> np.ndarray:
        """Class indexes of the window (uint8, height x width)."""
        import shapely

        shape = (int(window.height), int(window.width))
        hits = self.tree.query(shapely.box(*window_bounds(window, transform)))
        if len(hits) == 0:
            return np.zeros(shape, dtype=np.uint8)
        return rasterize(zip(self.geoms[hits], self.values[hits]), out_shape=shape,
                         transform=window_transform(window, transform), fill=0, dtype="uint8")
