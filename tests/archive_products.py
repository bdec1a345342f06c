"""Products as the archives deliver them (one COG per band and a STAC item), written from real 8-bit true-colour
pixels with their radiometry rebuilt: for tests and benchmarks of reading them. No geoclassify import: the
inversions here are written from the products' definitions, independently of the conversion they test.

The 8-bit values v are taken as Sentinel-2 L2A true colour (TCI): v = reflectance x 255 / 0.2. Inverted:
- Sentinel-2 L2A, processing baseline 04.00 and later: DN = reflectance x 10000 + 1000 (quantification value
  10000, BOA_ADD_OFFSET -1000); 0 is no data;
- Landsat 8-9 Collection 2 Level-2 surface reflectance: DN = (reflectance + 0.2) / 0.0000275; 0 is no data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform_bounds


def reflectance(tci: np.ndarray) -> np.ndarray:
    """8-bit true colour (any shape) as surface reflectance, float64."""
    return tci.astype(np.float64) * 0.2 / 255


def l2a_digital_numbers(tci: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Sentinel-2 L2A DNs (uint16, baseline >= 04.00) of 8-bit true colour `tci` (bands, h, w); 0 where not `valid`
    (h, w)."""
    return np.where(valid, np.round(reflectance(tci) * 10000 + 1000), 0).astype(np.uint16)


def landsat_c2_l2_digital_numbers(tci: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Landsat Collection 2 Level-2 surface reflectance DNs (uint16) of 8-bit true colour; 0 where not `valid`."""
    return np.where(valid, np.round((reflectance(tci) + 0.2) / 0.0000275), 0).astype(np.uint16)


@dataclass(frozen=True)
class Band:
    """One band file of a product: its file name, STAC asset key, band id and common name, pixel size factor."""

    file: str
    key: str
    name: str
    common_name: str
    factor: int = 1  # 2: a 20 m band of a 10 m product


SENTINEL2_BANDS = (Band("B04.tif", "red", "B04", "red"), Band("B03.tif", "green", "B03", "green"),
                   Band("B02.tif", "blue", "B02", "blue"), Band("B08.tif", "nir", "B08", "nir"),
                   Band("B11.tif", "swir16", "B11", "swir16", 2))
LANDSAT_BANDS = (Band("SR_B4.TIF", "red", "SR_B4", "red"), Band("SR_B3.TIF", "green", "SR_B3", "green"),
                 Band("SR_B2.TIF", "blue", "SR_B2", "blue"))


def write_band_cog(path: Path, pixels: np.ndarray, transform: Affine, crs: CRS, description: str) -> Path:
    """One single-band uint16 COG (DEFLATE, 256-pixel blocks, overviews), nodata 0, its band description set; no
    scale/offset tags (Sentinel-2 JP2s and Earth Search COGs carry none)."""
    with rasterio.open(path, "w", driver="COG", width=pixels.shape[1], height=pixels.shape[0], count=1,
                       dtype="uint16", crs=crs, transform=transform, nodata=0, compress="deflate",
                       blocksize=256) as ds:
        ds.write(pixels, 1)
        ds.set_band_description(1, description)
    return path


def coarser(pixels: np.ndarray, factor: int) -> np.ndarray:
    """`pixels` (h, w) averaged over `factor` x `factor` blocks (rounded; 0 where any is 0); the last rows and
    columns that do not fill a block are left out."""
    h, w = pixels.shape[0] // factor * factor, pixels.shape[1] // factor * factor
    blocks = pixels[:h, :w].reshape(h // factor, factor, w // factor, factor).astype(np.float64)
    mean = np.round(blocks.mean(axis=(1, 3)))
    return np.where((blocks == 0).any(axis=(1, 3)), 0, mean).astype(np.uint16)


def write_product(folder: Path, dn: np.ndarray, transform: Affine, crs: CRS, bands: tuple[Band, ...],
                  properties: dict, raster: dict, item_id: str) -> Path:
    """Band COGs of `dn` (bands, h, w) in `folder` (band i of `bands` from dn[i], or from dn[1], the green band,
    for bands beyond the third: stand-ins, there is no NIR or SWIR in true colour) and a STAC item describing them
    (eo and raster extensions). Returns the item's path."""
    import pystac
    from pystac.extensions.eo import Band as EOBand
    from pystac.extensions.eo import EOExtension
    from pystac.extensions.raster import RasterBand, RasterExtension

    folder.mkdir(parents=True, exist_ok=True)
    height, width = dn.shape[1:]
    west, south, east, north = transform_bounds(crs, "EPSG:4326", *rasterio.transform.array_bounds(
        height, width, transform))
    item = pystac.Item(item_id, {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north],
                                                                       [west, north], [west, south]]]},
                       [west, south, east, north], datetime(2025, 4, 27, 10, 17, 1, tzinfo=timezone.utc),
                       properties)
    for i, band in enumerate(bands):
        pixels = coarser(dn[i] if i < 3 else dn[1], band.factor)
        band_transform = transform * Affine.scale(band.factor)
        write_band_cog(folder / band.file, pixels, band_transform, crs, band.name)
        asset = pystac.Asset(band.file, media_type=pystac.MediaType.COG, roles=["data"])
        item.add_asset(band.key, asset)
        EOExtension.ext(asset, add_if_missing=True).bands = [EOBand.create(band.name, common_name=band.common_name)]
        RasterExtension.ext(asset, add_if_missing=True).bands = [RasterBand.create(
            nodata=0, data_type="uint16", spatial_resolution=abs(band_transform.a), **raster)]
        asset.extra_fields.update({"proj:shape": list(pixels.shape), "proj:transform": list(band_transform)[:6]})
    item.properties["proj:epsg"] = crs.to_epsg()
    item.set_self_href(str(folder / "item.json"))
    item.make_asset_hrefs_relative()
    item.save_object(include_self_link=False)
    return folder / "item.json"


def write_s2_l2a_product(folder: Path, tci: np.ndarray, valid: np.ndarray, transform: Affine, crs: CRS, *,
                         item_id: str = "S2A_MSIL2A_T32UPE", baseline: str = "05.11",
                         raster_scale: bool = True) -> Path:
    """A Sentinel-2 L2A product of 8-bit true colour `tci` (3, h, w; R, G, B) at 10 m: B04, B03, B02, B08 (the
    green DNs, a stand-in) at 10 m and B11 at 20 m (the green DNs averaged over 2 x 2), and its STAC item. With
    `raster_scale`, the item's raster:bands give scale 0.0001 and offset -0.1 (as Earth Search); without, only
    the platform and s2:processing_baseline say what the DNs are (as the Planetary Computer)."""
    raster = {"scale": 0.0001, "offset": -0.1} if raster_scale else {}
    properties = {"platform": "sentinel-2a", "constellation": "sentinel-2", "s2:processing_baseline": baseline}
    return write_product(folder, l2a_digital_numbers(tci, valid), transform, crs, SENTINEL2_BANDS, properties,
                         raster, item_id)


def write_landsat_c2_l2_product(folder: Path, tci: np.ndarray, valid: np.ndarray, transform: Affine, crs: CRS, *,
                                item_id: str = "LC08_L2SP_044034_20250427_02_T1") -> Path:
    """A Landsat 8 Collection 2 Level-2 product of 8-bit true colour (SR_B4, SR_B3, SR_B2) and its STAC item."""
    properties = {"platform": "landsat-8", "landsat:correction": "L2SP"}
    return write_product(folder, landsat_c2_l2_digital_numbers(tci, valid), transform, crs, LANDSAT_BANDS,
                         properties, {"scale": 0.0000275, "offset": -0.2}, item_id)


def write_tci(path: Path, tci: np.ndarray, valid: np.ndarray, transform: Affine, crs: CRS) -> Path:
    """The 8-bit RGB GeoTIFF of the same pixels, nodata 0 (real 0s raised to 1: the TCI keeps 0 for no data)."""
    pixels = np.where(valid, np.maximum(tci, 1), 0).astype(np.uint8)
    with rasterio.open(path, "w", driver="GTiff", width=tci.shape[2], height=tci.shape[1], count=3, dtype="uint8",
                       crs=crs, transform=transform, nodata=0, photometric="RGB", tiled=True) as ds:
        ds.write(pixels)
    return path
