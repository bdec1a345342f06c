"""The bundled model on products as the archives deliver them: Sentinel-2 L2A (a SAFE through GDAL's SENTINEL2
driver, band files, a STAC item), Landsat Collection 2 Level-2, scenes whose bands are in another order.

The pixels are real (tests/data/RGB.byte.tif, a Landsat 7 true-colour subset, placed on a 10 m grid so the
bundled 10 m model reads them without resampling); their radiometry is rebuilt: the 8-bit values v are taken as
Sentinel-2 L2A true colour (v = reflectance x 255 / 0.2) and inverted to each product's digital numbers
(tests.products). The 8-bit scene is the reference: the product must give its classes.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from geoclassify.inference.config import PredictConfig, SceneOutputs
from geoclassify.inference.pipeline import predict_scene
from geoclassify.inference.predictor import load_predictor
from geoclassify.inference.runners import LocalRunner
from geoclassify.models.files import default_model_path
from tests.safe import write_l2a_safe

AGREEMENT = 0.995  # share of output pixels where a product's classes must equal the 8-bit scene's
STRIDE = 16


@pytest.fixture(scope="module")
def runner() -> LocalRunner:
    return LocalRunner(load_predictor(default_model_path()))


@pytest.fixture(scope="module")
def true_colour(rgb_byte, tmp_path_factory):
    """RGB.byte.tif's pixels on a 10 m grid at its upper-left corner: (pixels (3, h, w) uint8, valid (h, w),
    transform, crs, the 8-bit GeoTIFF)."""
    with rasterio.open(rgb_byte) as ds:
        rgb, valid, crs, corner = ds.read(), ds.dataset_mask() > 0, ds.crs, ds.transform
    transform = Affine(10, 0, corner.c, 0, -10, corner.f)
    path = tmp_path_factory.mktemp("tci") / "tci.tif"
    with rasterio.open(path, "w", driver="GTiff", width=rgb.shape[2], height=rgb.shape[1], count=3, dtype="uint8",
                       crs=crs, transform=transform, nodata=0, photometric="RGB") as out:
        out.write(rgb)
    return rgb, valid, transform, crs, path


def l2a_dn(rgb: np.ndarray) -> np.ndarray:
    """8-bit true colour as L2A digital numbers: reflectance v x 0.2 / 255, DN = reflectance x 10000 + 1000."""
    return np.where(rgb == 0, 0, np.round(rgb * (2000 / 255)) + 1000).astype(np.uint16)


def classes(runner, scene, out, **config) -> np.ndarray:
    result = predict_scene(scene, SceneOutputs(out), runner, PredictConfig(stride=STRIDE, **config))
    with rasterio.open(result.output) as ds:
        return ds.read(1)


@pytest.fixture(scope="module")
def reference(runner, true_colour, tmp_path_factory) -> np.ndarray:
    """The classes of the 8-bit scene."""
    return classes(runner, str(true_colour[4]), tmp_path_factory.mktemp("ref") / "classes.tif")


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float((a == b).mean())


def test_a_sentinel2_safe_through_gdal_s_driver_gives_the_8_bit_scene_s_classes(runner, true_colour, reference,
                                                                                  tmp_path):
    rgb, _, transform, crs, _ = true_colour
    dn = l2a_dn(rgb)
    mtd = write_l2a_safe(tmp_path, {"B04": dn[0], "B03": dn[1], "B02": dn[2], "B08": dn[1]}, transform, crs,
                         tile="T18RSP")
    got = classes(runner, str(mtd), tmp_path / "classes.tif")
    assert agreement(got, reference) >= AGREEMENT
    assert {0, 1} <= set(np.unique(reference).tolist())  # both classes: the comparison can fail


def test_a_bgr_scene_whose_colour_interpretation_says_so_gives_the_rgb_scene_s_classes(runner, true_colour,
                                                                                       reference, tmp_path):
    rgb, _, transform, crs, _ = true_colour
    path = tmp_path / "bgr.tif"
    with rasterio.open(path, "w", driver="GTiff", width=rgb.shape[2], height=rgb.shape[1], count=3, dtype="uint8",
                       crs=crs, transform=transform, nodata=0) as out:
        out.write(rgb[::-1])
        out.colorinterp = [rasterio.enums.ColorInterp.blue, rasterio.enums.ColorInterp.green,
                           rasterio.enums.ColorInterp.red]
    np.testing.assert_array_equal(classes(runner, str(path), tmp_path / "classes.tif"), reference)
