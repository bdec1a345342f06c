"""A STAC item as a scene: its single-band raster assets, named by their eo bands, with their radiometry.

Read with pystac. Names come from the eo extension (`eo:bands` of STAC 1.0, `bands` with `eo:common_name` of STAC
1.1) or from the asset key ("red", "B04"); scale, offset and nodata from the raster extension (`raster:bands`, or
`raster:scale`/`raster:offset`/`nodata` of STAC 1.1), else from the product the item describes (Sentinel-2 by its
platform and processing baseline, Landsat Collection 2 Level-2 by its platform and processing level).
Source: https://github.com/stac-extensions/eo, https://github.com/stac-extensions/raster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from geoclassify.errors import IncompatibleSceneError, InputError
from geoclassify.io.bands import band_matches, common_name, names_of
from geoclassify.io.radiometry import Radiometry, product_radiometry, recognised_product
from geoclassify.io.remote import gdal_path, is_url
from geoclassify.io.stack import StackBand

RASTER_MEDIA = ("image/tiff", "image/jp2", "application/x-hdf", "image/vnd.stac.geotiff")


def is_stac_item(source: str) -> bool:
    """True when `source` (a path or URL) names a JSON file: geoclassify reads it as a STAC item."""
    return source.split("?")[0].lower().endswith(".json")


def read_item(source: str) -> Any:
    """The pystac Item at `source` (a JSON file or an http(s) URL).

    Raises:
        InputError: it cannot be read, is not JSON, or is not a STAC item.
    """
    import pystac

    if not is_url(source) and not Path(source).exists():
        raise InputError(f"input file not found: {source}")
    if is_url(source) and not source.startswith(("http://", "https://")):
        raise InputError(f"{source}: STAC items are read from files and http(s) URLs; give the item's https URL "
                         "or a downloaded copy (its assets may stay on s3://, gs:// or az://)")
    try:
        item = pystac.read_file(source)
    except Exception as exc:  # noqa: BLE001 - pystac raises a bare Exception for an HTTP error
        cause = exc.__cause__ or exc
        raise InputError(f"cannot read {source} as a STAC item: {cause}") from None
    if not isinstance(item, pystac.Item):
        raise InputError(f"{source} is a STAC {type(item).__name__}, not an item: give one item (one scene)")
    return item


def item_product(properties: dict[str, Any]) -> str | None:
    """The product an item's properties describe (see geoclassify.io.radiometry.PRODUCTS), or None."""
    platform = str(properties.get("platform", "")).lower()
    text = json.dumps(properties)
    if platform.startswith("sentinel-2") or str(properties.get("constellation", "")).lower() == "sentinel-2":
        return "sentinel2-l1c" if "L1C" in text.upper() and "L2A" not in text.upper() else "sentinel2-l2a"
    if platform.startswith("landsat") and ("L2SP" in text.upper() or "L2SR" in text.upper()):
        return "landsat-c2-l2"
    return recognised_product(text)


def eo_bands(asset: dict[str, Any]) -> list[dict[str, Any]]:
    """An asset's band entries (STAC 1.0 `eo:bands` or STAC 1.1 `bands`)."""
    return list(asset.get("eo:bands") or asset.get("bands") or [])


def raster_band(asset: dict[str, Any]) -> dict[str, Any]:
    """The first band's raster fields of an asset: scale, offset, nodata (STAC 1.0 `raster:bands` or STAC 1.1)."""
    entries = asset.get("raster:bands") or []
    if entries:
        return dict(entries[0])
    band = (asset.get("bands") or [{}])[0]
    fields = {"scale": band.get("raster:scale", asset.get("raster:scale")),
              "offset": band.get("raster:offset", asset.get("raster:offset")),
              "nodata": band.get("nodata", asset.get("nodata"))}
    return {k: v for k, v in fields.items() if v is not None}


def asset_band(key: str, href: str, asset: dict[str, Any], product: Radiometry | None) -> StackBand | None:
    """The stack band of a single-band raster asset with a band name, or None for any other asset."""
    bands = eo_bands(asset)
    media = str(asset.get("type", "image/tiff")).split(";")[0]
    if len(bands) > 1 or (media and not media.startswith(RASTER_MEDIA)):
        return None
    entry = bands[0] if bands else {}
    common = entry.get("common_name") or entry.get("eo:common_name") or ""
    name = entry.get("name") or key
    if not common:
        named = names_of(name) | names_of(key)
        common = common_name(named)
    if not common and not names_of(name):
        return None
    raster = raster_band(asset)
    scale, offset = raster.get("scale"), raster.get("offset")
    if scale is None and offset is None and product is not None:
        scale, offset = product.scale, product.offset
    nodata = raster.get("nodata", 0 if product is not None else None)
    return StackBand(gdal_path(href), 1, str(name), str(common), None if scale is None else float(scale),
                     None if offset is None else float(offset), None if nodata is None else float(nodata))


def item_bands(source: str, wanted: tuple[str, ...] | None = None) -> tuple[list[StackBand], str | None]:
    """The named single-band raster assets of the STAC item at `source` and the product the item describes (None
    if unknown): with `wanted` band names, one asset per name in that order (a COG before a JPEG 2000 copy of the
    same band, as Earth Search lists both; unused assets are never opened); without, all, in the item's order.

    Raises:
        InputError: the item cannot be read.
        IncompatibleSceneError: it has no single-band raster asset with a band name, or none for a wanted name.
    """
    item = read_item(source)
    product = item_product(item.properties)
    radiometry = None
    if product is not None:
        radiometry = product_radiometry(product, item.properties.get("s2:processing_baseline"))
    bands = []
    for key, asset in item.assets.items():
        band = asset_band(key, asset.get_absolute_href() or asset.href, asset.to_dict(), radiometry)
        if band is not None:
            bands.append(band)
    if not bands:
        raise IncompatibleSceneError(f"{source}: no single-band raster asset with a band name (eo:bands common_name "
                                     f"or a key like 'red' or 'B04'); its assets: {', '.join(item.assets)}")
    return (bands if not wanted else [pick_band(bands, name, source) for name in wanted]), product


def pick_band(bands: list[StackBand], name: str, source: str) -> StackBand:
    """The band asset named `name` (a common name or a band id); a COG before a JPEG 2000 copy.

    Raises:
        IncompatibleSceneError: no asset has that name; the message lists the item's band assets.
    """
    matches = [b for b in bands if band_matches(names_of(b.description) | names_of(b.common_name), name)]
    if not matches:
        have = ", ".join(f"{b.common_name or '?'} ({b.description})" for b in bands)
        raise IncompatibleSceneError(f"{source}: no band asset named {name!r}; its band assets: {have}. Name the "
                                     "bands with --bands (red,green,blue or B04,B03,B02)")
    return sorted(matches, key=lambda b: b.path.lower().endswith(".jp2"))[0]
