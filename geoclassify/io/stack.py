"""One scene from several rasters: their bands stacked on the finest grid as a GDAL VRT (XML, no pixel copied).

The VRT's text is itself what GDAL opens (rasterio.open(xml)), so it travels to threads and Dask workers like a
path. Source: GDAL's VRT format (https://gdal.org/en/stable/drivers/raster/vrt.html), as gdalbuildvrt -separate
-resolution highest builds it, with nearest-neighbour placement of the coarser bands (a 20 m pixel covers 2 x 2
10 m pixels exactly).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import rasterio
from affine import Affine
from rasterio.dtypes import _gdal_typename

from geoclassify.errors import IncompatibleSceneError
from geoclassify.io.bands import COMMON_NAME_TAG
from geoclassify.io.raster import open_dataset
from geoclassify.io.remote import remote_read_env

ALIGNMENT_TOLERANCE = 1e-6  # of a fine pixel: sources whose pixel corners are off the finest grid by more are refused


@dataclass(frozen=True)
class StackBand:
    """One band of a stack: band `band` of the raster GDAL opens at `path`, named `description` (a band id such
    as "B04") and `common_name` ("red"), with its reflectance `scale`/`offset` and `nodata` where known."""

    path: str
    band: int = 1
    description: str = ""
    common_name: str = ""
    scale: float | None = None
    offset: float | None = None
    nodata: float | None = None


@dataclass(frozen=True)
class SourceGrid:
    """A source raster's size, geotransform, CRS and band dtypes."""

    width: int
    height: int
    transform: Affine
    crs: rasterio.crs.CRS | None
    dtypes: tuple[str, ...]
    nodata: float | None


def source_grid(path: str) -> SourceGrid:
    """The grid of the raster at `path`.

    Raises:
        InputError: it cannot be opened.
        IncompatibleSceneError: it is rotated or sheared (only north-up rasters are stacked).
    """
    with remote_read_env(path), open_dataset(path) as ds:
        t = ds.transform
        if t.b or t.d:
            raise IncompatibleSceneError(f"{path} is rotated: only north-up rasters can be stacked; warp it first")
        return SourceGrid(ds.width, ds.height, t, ds.crs, tuple(ds.dtypes), ds.nodata)


def stack_vrt(bands: list[StackBand]) -> str:
    """A VRT (its XML text) of `bands`, in order, on the grid of the finest pixels over the union of their
    extents. Pixels outside a band's source are its nodata.

    Raises:
        InputError: a source cannot be opened.
        IncompatibleSceneError: no band, sources in different CRSs, rotated sources, or a source whose pixel
            corners fall between the finest grid's.
    """
    if not bands:
        raise IncompatibleSceneError("nothing to stack: no band")
    grids = {b.path: source_grid(b.path) for b in bands}
    crss = {str(g.crs) for g in grids.values()}
    if len(crss) > 1:
        raise IncompatibleSceneError(f"the rasters to stack are in different CRSs ({', '.join(sorted(crss))}): "
                                     "warp them to one first")
    res_x = min(abs(g.transform.a) for g in grids.values())
    res_y = min(abs(g.transform.e) for g in grids.values())
    north_up = next(iter(grids.values())).transform.e < 0
    lefts, rights, tops, bottoms = [], [], [], []
    for g in grids.values():
        x0, y0 = g.transform.c, g.transform.f
        x1, y1 = g.transform * (g.width, g.height)
        lefts.append(min(x0, x1))
        rights.append(max(x0, x1))
        tops.append(max(y0, y1) if north_up else min(y0, y1))
        bottoms.append(min(y0, y1) if north_up else max(y0, y1))
    left, top = min(lefts), max(tops) if north_up else min(tops)
    bottom = min(bottoms) if north_up else max(bottoms)
    width = round((max(rights) - left) / res_x)
    height = round(abs(top - bottom) / res_y)
    out = Affine(res_x, 0, left, 0, -res_y if north_up else res_y, top)
    root = ET.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    crs = next(iter(grids.values())).crs
    if crs is not None:
        ET.SubElement(root, "SRS").text = crs.to_wkt()
    ET.SubElement(root, "GeoTransform").text = ", ".join(repr(v) for v in out.to_gdal())
    for index, band in enumerate(bands, start=1):
        add_band(root, index, band, grids[band.path], out)
    return ET.tostring(root, encoding="unicode")


def add_band(root: ET.Element, index: int, band: StackBand, grid: SourceGrid, out: Affine) -> None:
    """Append band `index` (a VRTRasterBand with one ComplexSource) to the VRT `root` whose geotransform is `out`."""
    dtype = grid.dtypes[band.band - 1]
    element = ET.SubElement(root, "VRTRasterBand", dataType=_gdal_typename(dtype), band=str(index))
    if band.description:
        ET.SubElement(element, "Description").text = band.description
    if band.common_name:
        metadata = ET.SubElement(element, "Metadata")
        ET.SubElement(metadata, "MDI", key=COMMON_NAME_TAG).text = band.common_name
    nodata = band.nodata if band.nodata is not None else grid.nodata
    if nodata is not None:
        ET.SubElement(element, "NoDataValue").text = repr(float(nodata))
    if band.offset is not None:
        ET.SubElement(element, "Offset").text = repr(band.offset)
    if band.scale is not None:
        ET.SubElement(element, "Scale").text = repr(band.scale)
    source = ET.SubElement(element, "ComplexSource", resampling="nearest")
    ET.SubElement(source, "SourceFilename", relativeToVRT="0").text = band.path
    ET.SubElement(source, "SourceBand").text = str(band.band)
    ET.SubElement(source, "SrcRect", xOff="0", yOff="0", xSize=str(grid.width), ySize=str(grid.height))
    col, row = ~out * (grid.transform.c, grid.transform.f)
    cols, rows = grid.width * grid.transform.a / out.a, grid.height * grid.transform.e / out.e
    for value, what in ((col, "column"), (row, "row"), (cols, "width"), (rows, "height")):
        if abs(value - round(value)) > ALIGNMENT_TOLERANCE:
            raise IncompatibleSceneError(
                f"{band.path} is not aligned with the finest grid of the stack ({what} {value:.4f} of a fine pixel): "
                "warp it onto that grid first")
    if min(cols, rows) <= 0:
        raise IncompatibleSceneError(f"{band.path} has an empty or flipped grid against the stack's")
    ET.SubElement(source, "DstRect", xOff=str(round(col)), yOff=str(round(row)), xSize=str(round(cols)),
                  ySize=str(round(rows)))
    if nodata is not None:
        ET.SubElement(source, "NODATA").text = repr(float(nodata))
