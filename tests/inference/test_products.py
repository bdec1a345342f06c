"""The bundled model on products as the archives deliver them: Sentinel-2 L2A (a SAFE through GDAL's SENTINEL2
driver, band files, a STAC item), Landsat Collection 2 Level-2, scenes whose bands are in another order.

The pixels are real (tests/data/RGB.byte.tif, a Landsat 7 true-colour subset, placed on a 10 m grid so the
bundled 10 m model reads them without resampling); their radiometry is rebuilt: the 8-bit values v are taken as
Sentinel-2 L2A true colour (v = reflectance x 255 / 0.2) and inverted to each product's digital numbers
(tests.products). The 8-bit scene is the reference: the product must give its classes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from geoclassify.cli.main import cli
from geoclassify.errors import IncompatibleSceneError
from geoclassify.inference.config import PredictConfig, SceneOutputs
from geoclassify.inference.pipeline import predict_scene
from geoclassify.inference.predictor import load_predictor
from geoclassify.inference.runners import LocalRunner
from geoclassify.inference.scene import open_scene
from geoclassify.io.reader import StripReader
from geoclassify.io.sources import resolve_scene
from geoclassify.models.files import default_model_path
from tests.archive_products import l2a_digital_numbers, write_landsat_c2_l2_product, write_s2_l2a_product
from tests.safe import write_l2a_safe

AGREEMENT = 0.995  # share of output pixels where a product's classes must equal the 8-bit scene's
STRIDE = 16


@pytest.fixture(scope="module")
def runner() -> LocalRunner:
    return LocalRunner(load_predictor(default_model_path()))


@pytest.fixture(scope="module")
def true_colour(rgb_byte_10m, tmp_path_factory):
    """RGB.byte.tif's pixels on a 10 m grid at its upper-left corner: (pixels (3, h, w) uint8, valid (h, w),
    transform, crs, the 8-bit GeoTIFF)."""
    rgb, valid, transform, crs = rgb_byte_10m
    path = tmp_path_factory.mktemp("tci") / "tci.tif"
    with rasterio.open(path, "w", driver="GTiff", width=rgb.shape[2], height=rgb.shape[1], count=3, dtype="uint8",
                       crs=crs, transform=transform, nodata=0, photometric="RGB") as out:
        out.write(rgb)
    return rgb, valid, transform, crs, path


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
    rgb, valid, transform, crs, _ = true_colour
    dn = l2a_digital_numbers(rgb, valid)
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


@pytest.fixture(scope="module")
def l2a_item(true_colour, tmp_path_factory) -> Path:
    """The L2A product of the true-colour pixels (B04, B03, B02, B08 at 10 m, B11 at 20 m) and its STAC item
    (raster:bands scale and offset, as Earth Search)."""
    rgb, valid, transform, crs, _ = true_colour
    return write_s2_l2a_product(tmp_path_factory.mktemp("l2a"), rgb, valid, transform, crs)


def read_values(scene) -> tuple[np.ndarray, np.ndarray]:
    """The model's values and validity of a whole scene, as the strip reader reads them."""
    with StripReader(scene) as reader:
        return reader.collect(reader.submit_strip(0, scene.grid.height, 0, scene.grid.width))


@pytest.mark.parametrize("kind", ["stac raster:bands", "stac platform and baseline", "landsat c2 l2"])
def test_products_digital_numbers_become_the_model_s_8_bit_values(kind, true_colour, runner, tmp_path):
    rgb, valid, transform, crs, _ = true_colour
    if kind == "landsat c2 l2":
        item = write_landsat_c2_l2_product(tmp_path, rgb, valid, transform, crs)
        step = 0.0000275 * 255 / 0.2  # one DN in 8-bit values
    else:
        item = write_s2_l2a_product(tmp_path, rgb, valid, transform, crs, raster_scale=kind == "stac raster:bands")
        step = 1e-4 * 255 / 0.2
    scene = open_scene(str(item), runner.card)
    assert scene.bands == (1, 2, 3) and scene.grid.width == rgb.shape[2] and scene.values is not None
    values, ok = read_values(scene)
    np.testing.assert_array_equal(ok, valid)  # the products' nodata (0) is nodata
    assert values.dtype == np.float32
    assert np.abs(values[:, ok] - rgb[:, ok]).max() <= step / 2 + 1e-3  # within half a DN's rounding
    row, col = 300, 400  # a known pixel: its DNs by hand from the 8-bit values
    assert valid[row, col]
    with rasterio.open(item.parent / ("B04.tif" if "stac" in kind else "SR_B4.TIF")) as ds:
        dn = int(ds.read(1)[row, col])
    expected = (dn - 1000) / 10000 if "stac" in kind else dn * 0.0000275 - 0.2
    assert values[0, row, col] == pytest.approx(expected * 255 / 0.2, abs=1e-3)


def test_saturated_and_out_of_range_digital_numbers_are_nodata(true_colour, runner, tmp_path):
    rgb, valid, transform, crs, _ = true_colour
    item = write_s2_l2a_product(tmp_path, rgb, valid, transform, crs)
    with rasterio.open(item.parent / "B03.tif", "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:
        green = ds.read(1)
        green[300, 400] = 65535  # saturated
        ds.write(green, 1)
    values, ok = read_values(open_scene(str(item), runner.card))
    assert valid[300, 400] and not ok[300, 400]
    assert ok.sum() == valid.sum() - 1


def test_a_stac_item_is_stacked_on_its_finest_grid_with_the_20_m_band_aligned(l2a_item, true_colour):
    source = resolve_scene(str(l2a_item))
    with rasterio.open(source.path) as vrt, rasterio.open(l2a_item.parent / "B11.tif") as b11:
        assert vrt.count == 5 and vrt.res == (10.0, 10.0) and vrt.transform == true_colour[2]
        assert vrt.descriptions == ("B04", "B03", "B02", "B08", "B11")
        assert b11.res == (20.0, 20.0)
        stacked, coarse = vrt.read(5), b11.read(1)
    h, w = coarse.shape
    np.testing.assert_array_equal(stacked[: 2 * h, : 2 * w], np.repeat(np.repeat(coarse, 2, 0), 2, 1))
    assert source.product == "sentinel2-l2a" and str(l2a_item.parent / "B11.tif") in source.files


def test_a_stac_item_and_a_band_stack_give_the_8_bit_scene_s_classes(runner, l2a_item, reference, tmp_path):
    assert agreement(classes(runner, str(l2a_item), tmp_path / "item.tif"), reference) >= AGREEMENT
    bands = tuple(str(l2a_item.parent / f"{b}.tif") for b in ("B02", "B03", "B04"))  # any order: found by name
    stacked = classes(runner, bands, tmp_path / "stack.tif", product="sentinel2-l2a")
    assert agreement(stacked, reference) >= AGREEMENT


def test_a_uint16_scene_that_says_nothing_is_refused_naming_product(runner, l2a_item, tmp_path):
    bands = tuple(str(l2a_item.parent / f"{b}.tif") for b in ("B04", "B03", "B02"))
    with pytest.raises(IncompatibleSceneError, match=r"has uint16 data and nothing says what its values are.*"
                                                     r"--product \(sentinel2-l2a"):
        open_scene(bands, runner.card)
    with pytest.raises(IncompatibleSceneError, match=r"no band named 'blue'.*1=red \(b04\), 2=green \(b03\)"):
        open_scene(bands[:2], runner.card, product="sentinel2-l2a")


def test_the_cli_takes_a_stack_band_names_and_a_product(l2a_item, reference, tmp_path):
    folder = l2a_item.parent
    out = tmp_path / "cli.tif"
    result = CliRunner().invoke(cli, ["-q", "predict", "--stack", str(folder / "B02.tif"), str(folder / "B04.tif"),
                                      str(folder / "B03.tif"), "--bands", "B04,B03,B02", "--product",
                                      "sentinel2-l2a", "--stride", str(STRIDE), "-o", str(out)])
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as ds:
        assert agreement(ds.read(1), reference) >= AGREEMENT
    refused = CliRunner().invoke(cli, ["-q", "predict", "--stack", str(folder / "B02.tif"), "-o", str(out)])
    assert refused.exit_code == 2 and "two or more" in refused.output


def edit_item(item: Path, out: Path, change) -> Path:
    """A copy of the STAC item at `item` (same folder, so its relative hrefs hold) with `change(dict)` applied."""
    data = json.loads(item.read_text())
    change(data)
    out = item.parent / out.name
    out.write_text(json.dumps(data))
    return out


def test_a_stac_item_opens_only_the_model_s_bands_one_asset_each(runner, l2a_item, reference, tmp_path):
    def broken_unused_and_a_jp2_copy(data):
        data["assets"]["nir"]["href"] = "B08_missing.tif"  # unused: never opened
        data["assets"]["red-jp2"] = {**data["assets"]["red"], "href": "missing_B04.jp2", "type": "image/jp2"}

    item = edit_item(l2a_item, tmp_path / "earth_search_like.json", broken_unused_and_a_jp2_copy)
    scene = open_scene(str(item), runner.card)
    with rasterio.open(scene.path) as vrt:
        assert vrt.descriptions == ("B04", "B03", "B02") and scene.bands == (1, 2, 3)
    assert agreement(classes(runner, str(item), tmp_path / "classes.tif"), reference) >= AGREEMENT
    named = open_scene(str(item), runner.card, ("B04", "B03", "B02"))
    with rasterio.open(named.path) as vrt:
        assert vrt.descriptions == ("B04", "B03", "B02")
    with pytest.raises(IncompatibleSceneError, match=r"no band asset named 'swir22'; its band assets: red \(B04\)"):
        open_scene(str(item), runner.card, ("red", "green", "swir22"))


def test_the_wrong_product_is_refused_before_any_work(runner, l2a_item, tmp_path):
    bands = tuple(str(l2a_item.parent / f"{b}.tif") for b in ("B04", "B03", "B02"))
    with pytest.raises(IncompatibleSceneError, match=r"no sampled pixel has values in the valid range of Landsat "
                                                     r"Collection 2 Level-2 .*\(7273-43636\)"):
        open_scene(bands, runner.card, product="landsat-c2-l2")  # L2A DNs 1000-3000: never Landsat's


def test_band_ids_find_bands_named_by_colour_and_stacks_keep_colours(runner, true_colour, reference, tmp_path):
    tci = str(true_colour[4])
    assert open_scene(tci, runner.card, ("B04", "B03", "B02")).bands == (1, 2, 3)  # B04 is red, by colour
    with rasterio.open(tci) as ds:
        rgb = ds.read()
    parts = []
    for i, colour in enumerate(("red", "green", "blue")):  # one single-band file per colour, no description
        parts.append(str(tmp_path / f"part{i}.tif"))
        with rasterio.open(parts[-1], "w", driver="GTiff", width=rgb.shape[2], height=rgb.shape[1], count=1,
                           dtype="uint8", crs=ds.crs, transform=ds.transform, nodata=0) as out:
            out.write(rgb[i], 1)
            out.colorinterp = [getattr(rasterio.enums.ColorInterp, colour)]
    scene = open_scene(tuple(reversed(parts)), runner.card)
    assert scene.bands == (3, 2, 1)
    assert agreement(classes(runner, tuple(reversed(parts)), tmp_path / "parts.tif"), reference) == 1.0
