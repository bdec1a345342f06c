"""Spectral bands by name: what each band of a raster is (STAC common names), and finding a model's bands in it.

A band is named by its description (a STAC common name such as "red", or a product's band id such as Sentinel-2
"B04" or Landsat "SR_B4"), by a "COMMON_NAME" band tag (what geoclassify writes in the VRTs it stacks), or by
GDAL's colour interpretation (red, green, blue). Sources: the STAC eo extension's common names
(https://github.com/stac-extensions/eo#common-band-names), ESA's Sentinel-2 MSI band list and USGS's Landsat 8-9
OLI Collection 2 band list.
"""

from __future__ import annotations

import re

from rasterio.enums import ColorInterp
from rasterio.io import DatasetReader

from geoclassify.errors import IncompatibleSceneError

COMMON_NAMES = ("coastal", "blue", "green", "red", "rededge", "rededge1", "rededge2", "rededge3", "yellow", "pan",
                "nir", "nir08", "nir09", "cirrus", "swir16", "swir22", "lwir", "lwir11", "lwir12")
SENTINEL2_BANDS = {"B01": "coastal", "B02": "blue", "B03": "green", "B04": "red", "B05": "rededge1",
                   "B06": "rededge2", "B07": "rededge3", "B08": "nir", "B8A": "nir08", "B09": "nir09",
                   "B10": "cirrus", "B11": "swir16", "B12": "swir22"}
LANDSAT_OLI_BANDS = {"SR_B1": "coastal", "SR_B2": "blue", "SR_B3": "green", "SR_B4": "red", "SR_B5": "nir08",
                     "SR_B6": "swir16", "SR_B7": "swir22"}
PRODUCT_BANDS = SENTINEL2_BANDS | LANDSAT_OLI_BANDS  # band id -> common name
COLOUR_NAMES = {ColorInterp.red: "red", ColorInterp.green: "green", ColorInterp.blue: "blue"}
COMMON_NAME_TAG = "COMMON_NAME"  # band tag naming a band of a stacked VRT by its STAC common name


def band_id(text: str) -> str | None:
    """The product band id in a band description or file name, upper case; None when there is none.

    Sentinel-2: "B04" (zero-padded, also in file names like "T32UPE_20250427T101701_B04_10m.jp2") or "B4, central
    wavelength 665 nm" (GDAL's SENTINEL2 driver); Landsat OLI: "SR_B4", or "B4" in a file named LC08_/LC09_...
    A bare "B4" names nothing: tools write "B1, B2, ..." for band numbers.
    """
    landsat = re.search(r"(?<![A-Za-z0-9])SR_B([1-7])(?![0-9])", text, re.IGNORECASE)
    if landsat is None and re.search(r"(?<![A-Za-z0-9])L[CO]0[89]_", text, re.IGNORECASE):
        landsat = re.search(r"_B([1-7])(?![0-9])", text, re.IGNORECASE)
    if landsat:
        return f"SR_B{landsat.group(1)}"
    sentinel = re.search(r"(?<![A-Za-z0-9])B(0[1-9]|1[0-2]|8A)(?![0-9A-Za-z])", text, re.IGNORECASE) or re.search(
        r"^B([1-9]|1[0-2]|8A), central wavelength", text, re.IGNORECASE)
    if sentinel:
        number = sentinel.group(1).upper()
        return "B8A" if number == "8A" else f"B{number.zfill(2)}"
    return None


def names_of(text: str) -> set[str]:
    """Every name a band description (or a single-band file's name) gives the band, lower case: a common name
    itself, and a product band id with its common name."""
    names = set()
    word = text.strip().lower()
    if word in COMMON_NAMES:
        names.add(word)
    found = band_id(text)
    if found:
        names |= {found.lower(), PRODUCT_BANDS[found]}
    return names


def common_name(names: set[str]) -> str:
    """The STAC common name among a band's `names` ("" when there is none)."""
    return next((n for n in COMMON_NAMES if n in names), "")


def band_names(dataset: DatasetReader) -> list[set[str]]:
    """The names of each band of `dataset` (index 0 = band 1), lower case; an empty set for an unnamed band."""
    out = []
    for i in range(1, dataset.count + 1):
        names = names_of(dataset.descriptions[i - 1] or "")
        common = dataset.tags(i).get(COMMON_NAME_TAG)
        if common:
            names |= names_of(common)
        colour = COLOUR_NAMES.get(dataset.colorinterp[i - 1])
        if colour:
            names.add(colour)
        out.append(names)
    return out


def describe_bands(names: list[set[str]]) -> str:
    """'1=red (b04), 2=green, 3=(unnamed)': what a scene has, for error messages."""
    def label(n: set[str]) -> str:
        common = sorted(n & set(COMMON_NAMES))
        other = sorted(n - set(common))
        return " ".join(common + [f"({o})" for o in other]) or "(unnamed)"
    return ", ".join(f"{i}={label(n)}" for i, n in enumerate(names, start=1))


def find_bands(dataset: DatasetReader, wanted: tuple[str, ...], path: str) -> tuple[int, ...]:
    """The 1-based indexes of the bands named `wanted` (common names or band ids, any case), in that order.

    Raises:
        IncompatibleSceneError: a name matches no band, or more than one; the message lists what the scene has.
    """
    names = band_names(dataset)
    found = []
    for name in wanted:
        matches = [i for i, n in enumerate(names, start=1) if band_matches(n, name)]
        if len(matches) != 1:
            problem = "no band" if not matches else f"bands {matches}"
            raise IncompatibleSceneError(
                f"{path}: {problem} named {name!r} (needed: {', '.join(wanted)}); it has {describe_bands(names)}. "
                "Name the bands with --bands, by number (3,2,1) or name (red,green,blue or B04,B03,B02)")
        found.append(matches[0])
    return tuple(found)


def wanted_name(name: str) -> str:
    """A band name as given (--bands, a model card) in the form band_names() gives: lower case, Sentinel-2 ids
    zero-padded ("B4" and "b04" -> "b04")."""
    short = re.fullmatch(r"[Bb]([1-9])", name.strip())
    return f"b0{short.group(1)}" if short else (band_id(name) or name.strip()).lower()


def band_matches(names: set[str], name: str) -> bool:
    """True when a band with `names` (as band_names gives them) is the band `name` asks for (a common name, or a
    band id: "B04" is also any band named "red" when the band has no id of its own)."""
    key = wanted_name(name)
    if key in names:
        return True
    product_id = band_id(key)
    has_id = any(band_id(n) for n in names)
    return product_id is not None and not has_id and PRODUCT_BANDS[product_id] in names


def is_band_name(name: str) -> bool:
    """True for a name a band can have: a common name or a product band id (any case; "B4" for "B04")."""
    key = wanted_name(name)
    return key in COMMON_NAMES or band_id(key) is not None


def has_named_bands(dataset: DatasetReader) -> bool:
    """True when at least one band of `dataset` has a known name."""
    return any(band_names(dataset))
