"""Bands by name: product band ids, common names, colour interpretation; finding a model's bands; refusals."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp

from geoclassify.errors import IncompatibleSceneError
from geoclassify.io.bands import band_id, band_names, find_bands, is_band_name, names_of


@pytest.mark.parametrize("text, expected", [
    ("B04", "B04"), ("b8a", "B8A"), ("T32UPE_20250427T101701_B04_10m.jp2", "B04"), ("B11_20m.tif", "B11"),
    ("B4, central wavelength 665 nm", "B04"),  # GDAL's SENTINEL2 driver
    ("SR_B4", "SR_B4"), ("LC08_L2SP_044034_20200101_20200823_02_T1_SR_B5.TIF", "SR_B5"),
    ("LC09_L1TP_044034_20220101_B2.TIF", "SR_B2"),  # Landsat OLI numbering in a Landsat file name
    ("B4", None), ("B1", None), ("Band 1", None), ("RGB", None), ("B13", None), ("", None),
])
def test_band_ids(text, expected):
    assert band_id(text) == expected


def test_names_of_a_description():
    assert names_of("B04") == {"b04", "red"}
    assert names_of("Red ") == {"red"}
    assert names_of("SR_B5") == {"sr_b5", "nir08"}
    assert names_of("B8A") == {"b8a", "nir08"}
    assert names_of("elevation") == set()
    assert is_band_name("B4") and is_band_name("swir16") and is_band_name("sr_b7")
    assert not is_band_name("a") and not is_band_name("band1")


def write(path, data, colours=None, descriptions=None, tags=None):
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=len(data), dtype=data.dtype.name)
    if colours and colours[0] == ColorInterp.red and len(data) >= 3:
        profile["photometric"] = "RGB"
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        if colours:
            ds.colorinterp = colours
        for i, text in enumerate(descriptions or [], start=1):
            ds.set_band_description(i, text)
        for i, band_tags in enumerate(tags or [], start=1):
            ds.update_tags(i, **band_tags)
    return path


def test_colour_interpretation_names_the_bands(tmp_path):
    data = np.zeros((3, 4, 4), np.uint8)
    bgr = write(tmp_path / "bgr.tif", data, [ColorInterp.blue, ColorInterp.green, ColorInterp.red])
    with rasterio.open(bgr) as ds:
        assert band_names(ds) == [{"blue"}, {"green"}, {"red"}]
        assert find_bands(ds, ("red", "green", "blue"), "bgr.tif") == (3, 2, 1)


def test_descriptions_and_tags_name_the_bands(tmp_path):
    data = np.zeros((4, 4, 4), np.uint16)
    path = write(tmp_path / "s2.tif", data, descriptions=["B08", "B02", "B04", ""],
                 tags=[{}, {}, {}, {"COMMON_NAME": "green"}])
    with rasterio.open(path) as ds:
        assert find_bands(ds, ("red", "green", "blue"), "s2.tif") == (3, 4, 2)
        assert find_bands(ds, ("B4", "b02", "nir"), "s2.tif") == (3, 2, 1)


def test_a_missing_or_ambiguous_band_is_refused_listing_what_the_scene_has(tmp_path):
    data = np.zeros((3, 4, 4), np.uint16)
    path = write(tmp_path / "nrg.tif", data, descriptions=["nir", "red", "green"])
    with rasterio.open(path) as ds:
        with pytest.raises(IncompatibleSceneError, match=r"no band named 'blue'.*1=nir, 2=red, 3=green.*--bands"):
            find_bands(ds, ("red", "green", "blue"), "nrg.tif")
    twice = write(tmp_path / "twice.tif", data, descriptions=["red", "red", "green"])
    with rasterio.open(twice) as ds:
        with pytest.raises(IncompatibleSceneError, match=r"bands \[1, 2\] named 'red'"):
            find_bands(ds, ("red",), "twice.tif")
