"""Styles from the classification file itself: class names and colours as geoclassify wrote them.

geoclassify writes into every classification GeoTIFF the band metadata item CLASS_NAMES (a JSON list, index =
pixel value), a colour table and GDAL category names; nodata is 255. The raster gets a paletted renderer with
those names and colours; the polygons (field class_name) a categorized renderer with the same colours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from osgeo import gdal
from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFillSymbol,
    QgsMapLayer,
    QgsPalettedRasterRenderer,
    QgsProcessingLayerPostProcessorInterface,
    QgsRasterLayer,
    QgsRendererCategory,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

CLASS_FIELD = "class_name"
NODATA = 255
FALLBACK_COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                   (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


@dataclass(frozen=True)
class ClassInfo:
    value: int
    name: str
    color: tuple[int, int, int]


def read_classes(path: str) -> list[ClassInfo]:
    """The classes of a classification raster: CLASS_NAMES (or category names) and its colour table."""
    try:
        ds = gdal.OpenEx(path, gdal.OF_RASTER | gdal.OF_READONLY)  # None if unreadable, unless exceptions are on
    except RuntimeError:
        ds = None
    if ds is None:
        return []
    band = ds.GetRasterBand(1)
    names = None
    raw = band.GetMetadataItem("CLASS_NAMES")
    if raw:
        try:
            names = [str(n) for n in json.loads(raw)]
        except ValueError:
            names = None
    if not names:
        names = [n for n in (band.GetCategoryNames() or []) if n]
    table = band.GetColorTable()
    if not names and table is not None:  # a colour table alone: every entry but the nodata one is a class
        names = [f"class_{i}" for i in range(min(table.GetCount(), NODATA))
                 if table.GetColorEntry(i)[3] > 0]
    classes = []
    for i, name in enumerate(names or []):
        if i >= NODATA:
            break
        if table is not None and i < table.GetCount():
            r, g, b, _ = table.GetColorEntry(i)
        else:
            r, g, b = FALLBACK_COLORS[i % len(FALLBACK_COLORS)]
        classes.append(ClassInfo(i, name, (r, g, b)))
    return classes


def paletted_renderer(layer: QgsRasterLayer, classes: list[ClassInfo]) -> QgsPalettedRasterRenderer:
    items = [QgsPalettedRasterRenderer.Class(c.value, QColor(*c.color), c.name) for c in classes]
    return QgsPalettedRasterRenderer(layer.dataProvider(), 1, items)


def categorized_renderer(classes: list[ClassInfo]) -> QgsCategorizedSymbolRenderer:
    categories = []
    for c in classes:
        outline = QColor(*c.color).darker(160)
        symbol = QgsFillSymbol.createSimple({"color": ",".join(map(str, (*c.color, 255))),
                                             "outline_color": ",".join(map(str, (outline.red(), outline.green(),
                                                                                  outline.blue(), 255))),
                                             "outline_width": "0.26"})
        categories.append(QgsRendererCategory(c.name, symbol, c.name))
    return QgsCategorizedSymbolRenderer(CLASS_FIELD, categories)


def apply_style(layer: QgsMapLayer, classes: list[ClassInfo]) -> bool:
    """Paletted (raster) or categorized by class_name (polygons); False when there is nothing to style with."""
    if not classes or layer is None or not layer.isValid():
        return False
    if isinstance(layer, QgsRasterLayer):
        layer.setRenderer(paletted_renderer(layer, classes))
    elif isinstance(layer, QgsVectorLayer):
        if layer.fields().indexFromName(CLASS_FIELD) < 0:
            return False
        layer.setRenderer(categorized_renderer(classes))
    else:
        return False
    layer.triggerRepaint()
    return True


_KEEP: list = []  # Processing holds post-processors by pointer only: keep the Python objects alive


class ClassStyle(QgsProcessingLayerPostProcessorInterface):
    """Styles an output layer when Processing loads it into the project."""

    def __init__(self, classes: list[ClassInfo]) -> None:
        super().__init__()
        self.classes = classes

    def postProcessLayer(self, layer, context, feedback) -> None:  # noqa: N802
        apply_style(layer, self.classes)

    @classmethod
    def attach(cls, context, output: str, classes: list[ClassInfo], name: str | None = None) -> None:
        """Style `output` when it is loaded on completion (and name its layer)."""
        if not output or not classes or not context.willLoadLayerOnCompletion(output):
            return
        details = context.layerToLoadOnCompletionDetails(output)
        if name:
            details.name = name
        styler = cls(classes)
        _KEEP.append(styler)
        del _KEEP[:-64]
        details.setPostProcessor(styler)
