"""What the user names as a scene, and what GDAL opens for it: a raster file, a URL (through GDAL's virtual file
systems), a STAC item (its band assets stacked as a VRT) or several rasters given as one scene (stacked)."""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from rasterio.errors import NotGeoreferencedWarning

from geoclassify.errors import InputError
from geoclassify.io.bands import band_names, common_name, names_of
from geoclassify.io.identity import is_local_path
from geoclassify.io.radiometry import recognised_product
from geoclassify.io.raster import open_dataset
from geoclassify.io.remote import gdal_path, remote_read_env
from geoclassify.io.stac import is_stac_item, item_bands
from geoclassify.io.stack import StackBand, stack_vrt

log = logging.getLogger("geoclassify")

SceneArg = str | os.PathLike | tuple[str, ...]  # one raster, URL or STAC item; or a tuple: rasters stacked as one


@dataclass(frozen=True)
class SceneInput:
    """A scene as GDAL opens it.

    `name` is what the user gave (for messages and output names), `path` what GDAL opens (a file, a /vsi path or
    a VRT's XML), `files` the local files read for it (no output may overwrite them), `product` the product the
    source says it is (a STAC item's platform, see geoclassify.io.radiometry.PRODUCTS) or None.
    """

    name: str
    path: str
    files: tuple[str, ...]
    product: str | None = None


def scene_name(scene: SceneArg) -> str:
    """How a scene is named to the user: its path or URL; a stack as its files joined with '+'."""
    return "+".join(scene) if isinstance(scene, tuple) else str(scene)


def resolve_scene(scene: SceneArg, wanted: tuple[str, ...] | None = None) -> SceneInput:
    """What GDAL opens for `scene` (open remote ones inside geoclassify.io.remote.remote_read_env). A STAC item is
    stacked from the assets of the `wanted` band names only (all its band assets without).

    Raises:
        InputError: a file is missing or cannot be opened, or a STAC item cannot be read.
        IncompatibleSceneError: rasters that cannot be stacked (see geoclassify.io.stack.stack_vrt), or a STAC
            item without band assets.
    """
    name = scene_name(scene)
    texts = scene if isinstance(scene, tuple) else (str(scene),)
    if isinstance(scene, tuple) and len(scene) > 1:
        bands = [band for path in scene for band in file_bands(path)]
        return SceneInput(name, stack_vrt(bands), local_files(texts), recognised_product(name))
    text = texts[0]
    if is_stac_item(text):
        bands, product = item_bands(text, wanted)
        files = local_files((text,) + tuple(b.path for b in bands))
        return SceneInput(name, stack_vrt(bands), files, product)
    path = gdal_path(text)
    return SceneInput(name, first_subdataset(path), local_files(texts))


def first_subdataset(path: str) -> str:
    """`path`, or for a container of subdatasets without bands of its own (GDAL's SENTINEL2 driver on a product's
    MTD_MSIL2A.xml, HDF, netCDF) its first subdataset that GDAL opens: the finest resolution for Sentinel-2.

    Raises:
        InputError: `path` cannot be opened, or none of its subdatasets can.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a container has no georeferencing of its own
        with remote_read_env(path), open_dataset(path) as ds:
            if ds.count or not ds.subdatasets:
                return path
            subdatasets = list(ds.subdatasets)
    for sub in subdatasets:
        try:
            with remote_read_env(sub), open_dataset(sub) as part:
                if part.count:
                    log.info("%s holds subdatasets: reading %s (give another subdataset's name to read it)", path, sub)
                    return sub
        except InputError:
            continue
    raise InputError(f"{path} holds subdatasets, none of which GDAL can read: {', '.join(subdatasets)}")


def local_files(paths: tuple[str, ...]) -> tuple[str, ...]:
    """The local files among `paths`."""
    return tuple(p for p in paths if is_local_path(p))


def file_bands(path: str) -> list[StackBand]:
    """Every band of the raster at `path` as bands of a stack, named by their description, or for a single-band
    file without one by its file name (T32UPE_..._B04_10m.jp2 -> B04, red)."""
    opened = gdal_path(path)
    with remote_read_env(opened), open_dataset(opened) as ds:
        descriptions = list(ds.descriptions)
        named = band_names(ds)
        scales, offsets = ds.scales, ds.offsets
    out = []
    for i, description in enumerate(descriptions, start=1):
        text = description or (Path(path).name if len(descriptions) == 1 else "")
        names = named[i - 1] | names_of(text)  # description, COMMON_NAME tag, colour interpretation, file name
        scaled = (scales[i - 1], offsets[i - 1]) != (1.0, 0.0)
        out.append(StackBand(opened, i, text, common_name(names), scales[i - 1] if scaled else None,
                             offsets[i - 1] if scaled else None))
    return out
