"""What a product's digital numbers mean: reflectance = DN x scale + offset, and which DNs are data.

Sources:
- Sentinel-2 L1C and L2A: quantification value 10000 and, from processing baseline 04.00 (25 January 2022), a
  radiometric offset of -1000 DN (RADIO_ADD_OFFSET for L1C, BOA_ADD_OFFSET for L2A): reflectance =
  (DN - 1000) / 10000; DN 0 is no data, 65535 saturated (ESA, Sentinel-2 Products Specification Document and the
  processing baseline 04.00 note).
- Landsat 8-9 Collection 2 Level-2 surface reflectance: reflectance = DN x 0.0000275 - 0.2, valid DNs 7273 to
  43636, fill 0 (USGS, Landsat 8-9 Collection 2 Level 2 Science Product Guide).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np
from rasterio.io import DatasetReader

from geoclassify.errors import ConfigError

log = logging.getLogger("geoclassify")

SENTINEL2_OFFSET_BASELINE = "04.00"  # products of this processing baseline and later carry the -1000 DN offset


@dataclass(frozen=True)
class Radiometry:
    """Reflectance of a band's digital numbers: DN x `scale` + `offset`; DNs outside `valid` (inclusive) are no
    data. `source` says where it was found (for the log)."""

    scale: float
    offset: float
    valid: tuple[float, float]
    source: str


def sentinel2(level: str, baseline: str | None) -> Radiometry:
    """Sentinel-2 `level` ("L1C" or "L2A") of processing `baseline` ("05.11"; None: 04.00 or later, as every
    product since January 2022 and the reprocessed archive)."""
    offset = -0.1 if baseline is None or baseline >= SENTINEL2_OFFSET_BASELINE else 0.0
    said = f"processing baseline {baseline or f'assumed >= {SENTINEL2_OFFSET_BASELINE}'}"
    return Radiometry(1e-4, offset, (1, 65534), f"Sentinel-2 {level} ({said})")


LANDSAT_C2_L2 = Radiometry(0.0000275, -0.2, (7273, 43636), "Landsat Collection 2 Level-2 surface reflectance")
PRODUCTS = ("sentinel2-l2a", "sentinel2-l1c", "landsat-c2-l2")


def product_radiometry(product: str, baseline: str | None = None) -> Radiometry:
    """The radiometry of a named product (one of PRODUCTS).

    Raises:
        ConfigError: an unknown product name.
    """
    if product == "sentinel2-l2a":
        return sentinel2("L2A", baseline)
    if product == "sentinel2-l1c":
        return sentinel2("L1C", baseline)
    if product == "landsat-c2-l2":
        return LANDSAT_C2_L2
    raise ConfigError(f"--product must be one of {', '.join(PRODUCTS)}, not {product!r}")


def recognised_product(text: str) -> str | None:
    """The product a file name or product metadata names: Sentinel-2 "MSIL2A"/"S2MSI2A" (and L1C), Landsat
    Collection 2 "L2SP"/"L2SR"; None otherwise."""
    upper = text.upper()
    if re.search(r"MSIL2A|S2MSI2A|(?<![A-Z])L2A_T\d\d", upper):
        return "sentinel2-l2a"
    if re.search(r"MSIL1C|S2MSI1C|(?<![A-Z])L1C_T\d\d", upper):
        return "sentinel2-l1c"
    if re.search(r"(?<![A-Z0-9])L[CO]0[89]_L2S[PR]_", upper):
        return "landsat-c2-l2"
    return None


def processing_baseline(text: str) -> str | None:
    """A Sentinel-2 processing baseline ("05.11") from product metadata or a product name (..._N0511_...)."""
    match = re.search(r"(?<![A-Z0-9])N(\d\d)(\d\d)(?![0-9])", text.upper())
    return f"{match.group(1)}.{match.group(2)}" if match else None


def dataset_radiometry(dataset: DatasetReader, band: int, name: str, product: str | None,
                       known: str | None = None) -> Radiometry | None:
    """The radiometry of `band` (1-based) of an open dataset, or None when nothing says it.

    In order: the `product` named by the user (its baseline from the metadata or the name), the band's GDAL
    scale/offset tags (GDAL's SENTINEL2 driver, STAC-stacked VRTs, tools that write them), a product recognised
    in the metadata or in `name` (the path the user gave), or `known`: the product the source says it is (a STAC
    item's platform).

    Raises:
        ConfigError: `product` is not one of PRODUCTS.
    """
    metadata = " ".join(f"{k}={v}" for k, v in dataset.tags().items())
    text = f"{name} {metadata}"
    baseline = dataset.tags().get("PROCESSING_BASELINE") or processing_baseline(text)
    if product:
        return product_radiometry(product, baseline)
    recognised = known or recognised_product(text)
    scale, offset = dataset.scales[band - 1], dataset.offsets[band - 1]
    if (scale, offset) != (1.0, 0.0):
        info = np.iinfo(dataset.dtypes[band - 1]) if np.dtype(dataset.dtypes[band - 1]).kind in "iu" else None
        valid = product_radiometry(recognised, baseline).valid if recognised else (
            (info.min, info.max) if info else (-np.inf, np.inf))
        return Radiometry(scale, offset, valid, f"the band's scale {scale:g} and offset {offset:g}")
    if recognised:
        return product_radiometry(recognised, baseline)
    return None


SAMPLE_PIXELS = 256  # the long side of the decimated read that checks a product's values (overviews where any)


def share_in_range(dataset: DatasetReader, bands: tuple[int, ...], ranges: list[tuple[float, float]]) -> float | None:
    """The share of a decimated sample of `dataset`'s data pixels (GDAL's mask of the first band) whose every band
    lies in its range; None when the sample holds no data pixel."""
    scale = max(dataset.width, dataset.height) / SAMPLE_PIXELS
    shape = (max(1, round(dataset.height / scale)), max(1, round(dataset.width / scale))) if scale > 1 else (
        dataset.height, dataset.width)
    data = dataset.read(list(bands), out_shape=(len(bands), *shape))
    valid = dataset.read_masks(bands[0], out_shape=shape) > 0
    if not valid.any():
        return None
    inside = np.ones(shape, bool)
    for band, (low, high) in zip(data, ranges):
        inside &= (band >= low) & (band <= high)
    return float(inside[valid].mean())
