"""Input layers as files the CLI can open.

A layer read by GDAL from a plain local file is passed as that file. Any other layer with pixels of its own
(a raster in a GeoPackage with several tables, a virtual raster, PostGIS, WCS, ...) is exported to a
temporary GeoTIFF first. Web map layers (WMS, XYZ tiles, ArcGIS MapServer) have no pixels of their own
at a fixed resolution: they are refused with a message that says how to make a file of them. A layer
being edited is refused: its unsaved changes are not in the file the CLI would read.
"""

from __future__ import annotations

import os
import re

from qgis.core import (
    QgsProcessingException,
    QgsProcessingUtils,
    QgsProviderRegistry,
    QgsRasterBlockFeedback,
    QgsRasterDataProvider,
    QgsRasterFileWriter,
    QgsRasterLayer,
    QgsRasterPipe,
)

WEB_PROVIDERS = {"wms", "arcgismapserver"}


def check_not_edited(layer) -> None:
    edited = (layer.isEditable() and getattr(layer, "isModified", lambda: True)()) or (
        isinstance(layer, QgsRasterLayer) and layer.dataProvider() is not None and layer.dataProvider().isEditable())
    if edited:
        raise QgsProcessingException(
            f"the layer \u201c{layer.name()}\u201d is being edited and may have unsaved changes, which geoclassify "
            f"would not see (it reads the file on disk): save the edits and stop editing, then run again")


def local_file(layer: QgsRasterLayer) -> str | None:
    """The plain local file a GDAL layer reads, or None (subdatasets, /vsi paths, open options, URLs)."""
    if layer.providerType() != "gdal":
        return None
    parts = QgsProviderRegistry.instance().decodeUri("gdal", layer.source())
    path = parts.get("path")
    if not path or any(parts.get(k) for k in ("layerName", "vsiPrefix", "vsiSuffix", "openOptions")):
        return None
    return path if os.path.isfile(path) else None


def _has_native_pixels(layer: QgsRasterLayer) -> bool:
    provider = layer.dataProvider()
    return (layer.providerType() not in WEB_PROVIDERS and provider is not None
            and bool(provider.capabilities() & QgsRasterDataProvider.Size)
            and provider.xSize() > 0 and provider.ySize() > 0)


def export_geotiff(layer: QgsRasterLayer, context, feedback) -> str:
    """Write the layer's pixels (all bands, native size and extent) to a temporary GeoTIFF."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", layer.name()).strip("_") or "layer"
    path = QgsProcessingUtils.generateTempFilename(f"geoclassify_input_{name}.tif")
    provider = layer.dataProvider()
    pipe = QgsRasterPipe()
    if not pipe.set(provider.clone()):
        raise QgsProcessingException(f"cannot read the layer \u201c{layer.name()}\u201d to export it")
    writer = QgsRasterFileWriter(path)
    writer.setOutputFormat("GTiff")
    if feedback is not None:
        feedback.pushInfo(f"\u201c{layer.name()}\u201d is not a local raster file: exporting it to {path}")
    block_feedback = QgsRasterBlockFeedback()  # writeRaster's own kind of feedback, cancelled with ours
    if feedback is not None:
        feedback.canceled.connect(block_feedback.cancel)
    error = writer.writeRaster(pipe, provider.xSize(), provider.ySize(), provider.extent(), provider.crs(),
                               context.transformContext(), block_feedback)
    if error != QgsRasterFileWriter.NoError:
        raise QgsProcessingException(f"cannot export the layer \u201c{layer.name()}\u201d to a GeoTIFF "
                                     f"(QgsRasterFileWriter error {int(error)}); save it as a GeoTIFF and use that")
    return path


def raster_file(layer, context, feedback, what: str = "input") -> str:
    """A local raster file holding the layer's pixels: its own file, or a temporary export."""
    if layer is None or not layer.isValid():
        raise QgsProcessingException(f"no valid raster layer for the {what}")
    check_not_edited(layer)
    path = local_file(layer)
    if path is not None:
        return path
    if _has_native_pixels(layer):
        return export_geotiff(layer, context, feedback)
    raise QgsProcessingException(
        f"the layer \u201c{layer.name()}\u201d ({layer.providerType()}) is a web or online layer without pixels of "
        f"its own to classify: save the area you need as a GeoTIFF first (right-click the layer \u25b8 Export "
        f"\u25b8 Save As\u2026, with a resolution and extent), then run geoclassify on that file")
