"""Archive products (one uint16 COG per band, a STAC item) and an 8-bit TCI written from real 8-bit true-colour
pixels, with their radiometry rebuilt from the products' published definitions.

No geoclassify import: tests of geoclassify's conversion of digital numbers (DN) to the model's 8-bit values must
not check it against itself. The definitions used:

- 8-bit true colour, as the Sentinel-2 L2A TCI: v = reflectance x 255 / 0.2 (reflectance 0..0.2 -> 0..255,
  saturating above); 0 is no data (a real 0 is raised to 1);
- Sentinel-2 L2A, processing baseline 04.00 and later: reflectance = (DN - 1000) / 10000 (quantification value
  10000, BOA_ADD_OFFSET -1000), so DN = round(v x 2000 / 255) + 1000; DN 0 is no data;
- Landsat 8-9 Collection 2 Level-2 surface reflectance: reflectance = DN x 0.0000275 - 0.2, so
  DN = round((v x 0.2 / 255 + 0.2) / 0.0000275); DN 0 is no data.

Arrays: a true-colour image is uint8 (3, h, w) in R, G, B order; `valid` is bool (h, w), True where the pixel is
data; `transform` is the affine transform of the 10 m (h, w) grid in `crs` units (metres for UTM).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
from affine import Affine
from pyproj import Transformer
from pystac.extensions.eo import Band, EOExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension
from rasterio.crs import CRS

S2_DATETIME = datetime(2025, 4, 27, 10, 17, 1, tzinfo=timezone.utc)  # the chips' acquisition (MSIL2A_20250427T101701)
# STAC projection extension 1.1 (proj:epsg), as Earth Search's STAC 1.0 items; pystac's own writes 2.0 (proj:code)
PROJECTION_V1 = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
COG_MEDIA = pystac.MediaType.COG  # image/tiff; application=geotiff; profile=cloud-optimized


def _reflectance(tci: np.ndarray) -> np.ndarray:
    """Surface reflectance (float64, unitless, same shape) of 8-bit true-colour values (TCI: 255 = 0.2)."""
    return tci.astype(np.float64) * 0.2 / 255


def _valid_mask(tci: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """`valid` (h, w) checked against `tci` (bands, h, w) and broadcast over its bands."""
    valid = np.asarray(valid, dtype=bool)
    if valid.shape != tci.shape[-2:]:
        raise ValueError(f"valid mask {valid.shape} does not match the pixels {tci.shape}")
    return np.broadcast_to(valid, tci.shape)


def l2a_digital_numbers(tci: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Sentinel-2 L2A DNs (uint16, same shape as `tci`: (bands, h, w) or (h, w)) of 8-bit true colour, processing
    baseline 04.00+: DN = round(v x 2000 / 255) + 1000 (reflectance 0..0.2 -> DN 1000..3000); 0 where not `valid`
    (bool, (h, w))."""
    dn = np.round(_reflectance(tci) * 10000) + 1000
    return np.where(_valid_mask(tci, valid), dn, 0).astype(np.uint16)


def landsat_c2_l2_digital_numbers(tci: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Landsat Collection 2 Level-2 surface-reflectance DNs (uint16, same shape as `tci`) of 8-bit true colour:
    DN = round((v x 0.2 / 255 + 0.2) / 0.0000275) (reflectance 0..0.2 -> DN 7273..14545); 0 where not `valid`."""
    dn = np.round((_reflectance(tci) + 0.2) / 0.0000275)
    return np.where(_valid_mask(tci, valid), dn, 0).astype(np.uint16)


def block_mean_2x2(dn: np.ndarray, nodata: int = 0) -> np.ndarray:
    """A 20 m band from a 10 m one: each output pixel is the mean of a 2x2 block of `dn` (uint16, (h, w)), rounded
    half up; `nodata` where any of the four is `nodata`. An odd last row or column is cropped: the result is
    (h // 2, w // 2)."""
    h, w = dn.shape[0] // 2 * 2, dn.shape[1] // 2 * 2
    blocks = dn[:h, :w].astype(np.int64).reshape(h // 2, 2, w // 2, 2)
    mean = (blocks.sum(axis=(1, 3)) + 2) // 4
    return np.where((blocks == nodata).any(axis=(1, 3)), nodata, mean).astype(dn.dtype)


def write_band_cog(path: Path, array2d: np.ndarray, transform: Affine, crs: CRS | str, description: str,
                   nodata: int = 0) -> Path:
    """One single-band COG (GDAL's COG driver: 256-pixel tiles, DEFLATE with the horizontal predictor, overviews
    while the image exceeds a tile) of `array2d` ((h, w), its dtype kept: uint16 for DNs), band description set
    (e.g. "B04"), `nodata` declared. No scale/offset tags: real Sentinel-2 JP2s and Earth Search COGs carry none
    (the scale and offset are in the product metadata and the STAC item)."""
    path = Path(path)
    h, w = array2d.shape
    with rasterio.open(path, "w", driver="COG", width=w, height=h, count=1, dtype=array2d.dtype, crs=crs,
                       transform=transform, nodata=nodata, compress="deflate", predictor=2, blocksize=256) as dst:
        dst.write(array2d, 1)
        dst.set_band_description(1, description)
    return path


def write_tci(path: Path, tci_rgb: np.ndarray, valid: np.ndarray, transform: Affine, crs: CRS | str) -> Path:
    """The 8-bit RGB GeoTIFF of `tci_rgb` (uint8 (3, h, w)), as the Sentinel-2 TCI: nodata 0 where not `valid`
    ((h, w)), a real 0 raised to 1 (the TCI reserves 0 for no data), colour interpretation RGB, tiled, DEFLATE."""
    pixels = np.where(_valid_mask(tci_rgb, valid), np.maximum(tci_rgb, 1), 0).astype(np.uint8)
    with rasterio.open(Path(path), "w", driver="GTiff", width=pixels.shape[2], height=pixels.shape[1], count=3,
                       dtype="uint8", crs=crs, transform=transform, nodata=0, photometric="RGB", compress="deflate",
                       tiled=True, blockxsize=256, blockysize=256) as dst:
        dst.write(pixels)
    return Path(path)


@dataclass(frozen=True)
class BandFile:
    """One band file of a product: file name, STAC asset key, band id, eo common name, pixel size (x the grid's)."""

    file: str
    key: str
    name: str
    common_name: str
    factor: int = 1


@dataclass(frozen=True)
class ProductKind:
    """What differs between the products: DN scale and offset to reflectance (STAC raster:bands) and properties."""

    scale: float
    offset: float
    properties: dict[str, Any]


def _footprint_wgs84(transform: Affine, shape: tuple[int, int], crs: CRS | str) -> tuple[dict[str, Any], list]:
    """GeoJSON polygon and bbox (EPSG:4326 lon/lat) of the four corners of a (h, w) grid."""
    h, w = shape
    corners = [transform * (0, 0), transform * (w, 0), transform * (w, h), transform * (0, h)]
    to_wgs84 = Transformer.from_crs(CRS.from_user_input(crs).to_wkt(), "EPSG:4326", always_xy=True)
    lonlat = [to_wgs84.transform(x, y) for x, y in corners]
    lons, lats = [p[0] for p in lonlat], [p[1] for p in lonlat]
    ring = [[lon, lat] for lon, lat in lonlat] + [list(lonlat[0])]
    return {"type": "Polygon", "coordinates": [ring]}, [min(lons), min(lats), max(lons), max(lats)]


def _write_product(folder: Path, layers: list[tuple[BandFile, np.ndarray]], transform: Affine, crs: CRS | str,
                   item_id: str, kind: ProductKind, with_item: bool, datetime_: datetime) -> Path:
    """Write each (band, DN array) of `layers` as `folder/band.file` on the grid `transform` scaled by the band's
    factor, and with `with_item` the STAC 1.0 item `folder/item.json` (eo, raster, projection extensions, relative
    asset hrefs). Returns the item's path (or the folder without an item)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    crs = CRS.from_user_input(crs)
    for band, dn in layers:
        write_band_cog(folder / band.file, dn, transform * Affine.scale(band.factor), crs, band.name)
    if not with_item:
        return folder
    h, w = layers[0][1].shape
    geometry, bbox = _footprint_wgs84(transform, (h, w), crs)
    epsg = crs.to_epsg()
    item = pystac.Item(item_id, geometry, bbox, datetime_,
                       {**kind.properties, "proj:epsg": epsg, "proj:shape": [h, w],
                        "proj:transform": list(transform)[:6]})
    item.stac_extensions.append(PROJECTION_V1)
    for band, dn in layers:
        asset_transform = transform * Affine.scale(band.factor)
        asset = pystac.Asset(band.file, title=f"{band.name} ({band.common_name})", media_type=COG_MEDIA,
                             roles=["data"],
                             extra_fields={"proj:epsg": epsg, "proj:shape": list(dn.shape),
                                           "proj:transform": list(asset_transform)[:6]})
        item.add_asset(band.key, asset)
        EOExtension.ext(asset, add_if_missing=True).bands = [Band.create(name=band.name,
                                                                         common_name=band.common_name)]
        RasterExtension.ext(asset, add_if_missing=True).bands = [RasterBand.create(
            nodata=0, data_type=DataType.UINT16, scale=kind.scale, offset=kind.offset,
            spatial_resolution=abs(asset_transform.a))]
    fields = item.to_dict(include_self_link=False, transform_hrefs=False)  # relative asset hrefs kept as given
    fields["stac_version"] = "1.0.0"  # pystac writes its own (1.1); the fields here are STAC 1.0's (eo:bands)
    path = folder / "item.json"
    path.write_text(json.dumps(fields, indent=2))
    return path


S2_L2A_BANDS = (BandFile("B04.tif", "red", "B04", "red"), BandFile("B03.tif", "green", "B03", "green"),
                BandFile("B02.tif", "blue", "B02", "blue"), BandFile("B08.tif", "nir", "B08", "nir"),
                BandFile("B11.tif", "swir16", "B11", "swir16", factor=2))
LANDSAT_C2_L2_BANDS = (BandFile("SR_B4.TIF", "red", "SR_B4", "red"),
                       BandFile("SR_B3.TIF", "green", "SR_B3", "green"),
                       BandFile("SR_B2.TIF", "blue", "SR_B2", "blue"))


def write_s2_l2a_product(folder: Path, tci_rgb: np.ndarray, valid: np.ndarray, transform: Affine, crs: CRS | str,
                         *, item_id: str, baseline: str = "05.11", with_item: bool = True) -> Path:
    """A Sentinel-2 L2A product as Earth Search delivers it, from 8-bit true colour `tci_rgb` (uint8 (3, h, w),
    R, G, B) on the 10 m grid `transform`/`crs`, no data where not `valid` ((h, w)).

    Writes uint16 DN COGs (l2a_digital_numbers, baseline 04.00+ offset, nodata 0): B04.tif (red), B03.tif (green),
    B02.tif (blue) and B08.tif (nir) at 10 m ((h, w)), B11.tif (swir16) at 20 m ((h // 2, w // 2), transform scaled
    by 2, each pixel the rounded mean of a 2x2 block, nodata where any of the four is; an odd last row or column
    is cropped for B11 only). The source has no NIR or SWIR: B08 and B11 hold the GREEN band's DNs as stand-ins
    (right grid, size and data type; wrong spectrum).

    With `with_item`, also `item.json`: a STAC 1.0 item with the eo, raster (scale 0.0001, offset -0.1, nodata 0,
    uint16) and projection (proj:epsg, proj:shape, proj:transform) extensions, assets red/green/blue/nir/swir16 with
    relative hrefs, platform sentinel-2a, `s2:processing_baseline` = `baseline`, datetime 2025-04-27T10:17:01Z,
    geometry and bbox in EPSG:4326. Returns the item's path (the folder when `with_item` is False).
    """
    dn = l2a_digital_numbers(tci_rgb, valid)
    red, green, blue = dn
    kind = ProductKind(0.0001, -0.1, {"platform": "sentinel-2a", "constellation": "sentinel-2", "instruments": ["msi"],
                                      "s2:processing_baseline": baseline, "s2:product_type": "S2MSI2A"})
    layers = list(zip(S2_L2A_BANDS, (red, green, blue, green, block_mean_2x2(green))))
    return _write_product(Path(folder), layers, transform, crs, item_id, kind, with_item, S2_DATETIME)


def write_landsat_c2_l2_product(folder: Path, tci_rgb: np.ndarray, valid: np.ndarray, transform: Affine,
                                crs: CRS | str, item_id: str) -> Path:
    """A Landsat 8 Collection 2 Level-2 surface-reflectance product from 8-bit true colour `tci_rgb` (uint8
    (3, h, w), R, G, B) on the grid `transform`/`crs` (the given pixel size, not Landsat's 30 m), no data where not
    `valid`: SR_B4.TIF (red), SR_B3.TIF (green), SR_B2.TIF (blue) (OLI numbering), uint16 DN COGs
    (landsat_c2_l2_digital_numbers, nodata 0), and `item.json` (eo, raster: scale 0.0000275, offset -0.2;
    platform landsat-8, landsat:processing_level L2SP). Returns the item's path."""
    red, green, blue = landsat_c2_l2_digital_numbers(tci_rgb, valid)
    kind = ProductKind(0.0000275, -0.2, {"platform": "landsat-8", "instruments": ["oli", "tirs"],
                                         "landsat:collection_number": "02", "landsat:processing_level": "L2SP"})
    layers = list(zip(LANDSAT_C2_L2_BANDS, (red, green, blue)))
    return _write_product(Path(folder), layers, transform, crs, item_id, kind, True, S2_DATETIME)
