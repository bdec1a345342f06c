"""Every kind of scene a user brings: ground units in any CRS, validity through resampling, NaN, orientation,
GCP-only georeferencing and palettes. Each input is a twin of a small crop of the shipped NAIP scene (5 m,
EPSG:26914), georeferenced or masked another way; the right value is the twin's."""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.control import GroundControlPoint
from rasterio.rpc import RPC
from rasterio.warp import Resampling, calculate_default_transform, reproject
from rasterio.windows import Window

from geoclassify.errors import IncompatibleSceneError
from geoclassify.geo.grid import Grid
from geoclassify.geo.units import pixel_size_metres
from geoclassify.inference.config import PredictConfig, SceneOutputs
from geoclassify.inference.pipeline import predict_scene
from geoclassify.inference.predictor import TorchPredictor
from geoclassify.inference.runners import LocalRunner
from geoclassify.inference.scene import open_scene
from geoclassify.io.reader import StripReader
from geoclassify.models.files import load_model
from geoclassify.vector.polygonize import PolygonizeOptions

CROP = Window(300, 200, 256, 192)  # 256 x 192 pixels of the NAIP scene at 5 m


@pytest.fixture(scope="module")
def card_and_model(chip_model):
    model, card = load_model(chip_model)
    return model, card


def runner_for(card_and_model, **card_changes) -> LocalRunner:
    """The test chip classifier with its card changed (a GSD to resample to, a dtype)."""
    model, card = card_and_model
    return LocalRunner(TorchPredictor(model, dataclasses.replace(card, **card_changes), device="cpu"))


@pytest.fixture(scope="module")
def crop(naip):
    """(pixels (3, 192, 256) uint8, transform, crs) of the crop, 5 m pixels, north-up."""
    with rasterio.open(naip) as src:
        return src.read((1, 2, 3), window=CROP), src.window_transform(CROP), src.crs


def write(path, data, **profile):
    """A GeoTIFF of `data` (bands, rows, cols)."""
    profile = {"driver": "GTiff", "count": data.shape[0], "height": data.shape[1], "width": data.shape[2],
               "dtype": str(data.dtype), **profile}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def predict(runner, scene, out, stride=8, **config):
    predict_scene(str(scene), SceneOutputs(out), runner, PredictConfig(stride=stride, **config))
    with rasterio.open(out) as ds:
        return ds.read(1), Grid.from_dataset(ds)


# --- 1. ground units ------------------------------------------------------------------------------------------

def test_web_mercator_scene_is_classified_at_the_model_gsd_on_the_ground(card_and_model, crop, tmp_path):
    """A Web Mercator scene at 47 N (pixels of 7.3 Mercator metres = 5 ground metres) is resampled to 10 ground
    metres, not to 10 Mercator metres (6.8 ground metres), and its polygons' area_m2 is the ground area: the same
    as the UTM twin's, not 2.15x it."""
    data, transform, crs = crop
    dst_transform, width, height = calculate_default_transform(crs, "EPSG:3857", data.shape[2], data.shape[1],
                                                               *rasterio.transform.array_bounds(192, 256, transform))
    mercator = np.zeros((3, height, width), np.uint8)
    reproject(data, mercator, src_transform=transform, src_crs=crs, dst_transform=dst_transform,
              dst_crs="EPSG:3857", resampling=Resampling.bilinear)
    scene = write(tmp_path / "mercator.tif", mercator, crs="EPSG:3857", transform=dst_transform)
    utm = write(tmp_path / "utm.tif", data, crs=crs, transform=transform)
    runner = runner_for(card_and_model, gsd=10.0)
    working = open_scene(scene, runner.card).grid
    assert pixel_size_metres(working) == pytest.approx((10.0, 10.0), rel=0.01)
    assert working.res[0] == pytest.approx(working.res[1], rel=1e-12)  # square Mercator pixels stay square
    areas = {}
    for name, path in {"mercator": scene, "utm": utm}.items():
        vector = tmp_path / f"{name}.gpkg"
        predict_scene(str(path), SceneOutputs(tmp_path / f"{name}_out.tif", vector=vector), runner,
                      PredictConfig(stride=8), PolygonizeOptions())
        areas[name] = gpd.read_file(vector).area_m2.sum()
    assert areas["mercator"] == pytest.approx(areas["utm"], rel=0.03)  # one output pixel more or less at the edges


# --- 2. validity survives resampling ---------------------------------------------------------------------------

def mask_pattern(rows: int, cols: int) -> np.ndarray:
    """A validity pattern in 2x2 blocks: block (i, j) has (i + j) % 5 valid pixels of its 4."""
    valid = np.zeros((rows, cols), bool)
    order = [(0, 0), (1, 1), (0, 1), (1, 0)]
    for i in range(rows // 2):
        for j in range(cols // 2):
            for r, c in order[: (i + j) % 5]:
                valid[2 * i + r, 2 * j + c] = True
    return valid


def masked_scene(path, data, valid, how, **profile):
    """`data` with `valid` given as a nodata value, an internal mask, an alpha band or NaN."""
    if how == "nodata":
        return write(path, np.where(valid, np.maximum(data, 1), 0).astype(np.uint8), nodata=0, **profile)
    if how == "alpha":
        alpha = np.where(valid, 255, 0).astype(np.uint8)[None]
        return write(path, np.concatenate([data, alpha]), photometric="RGB", alpha="YES", **profile)
    if how == "nan":
        return write(path, np.where(valid, data, np.nan).astype(np.float32), **profile)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        write(path, data, **profile)
        with rasterio.open(path, "r+") as ds:
            ds.write_mask(np.where(valid, 255, 0).astype(np.uint8))
    return path


@pytest.mark.parametrize("how", ["nodata", "mask", "alpha", "nan"])
@pytest.mark.parametrize("native_res, gsd", [(5.0, 10.0), (10.0, 5.0)])  # averaging, bilinear
def test_a_working_pixel_is_valid_when_most_of_its_footprint_is(card_and_model, crop, tmp_path, how, native_res,
                                                                  gsd):
    """Whatever marks native pixels invalid marks the working pixels whose footprint is mostly invalid: when
    coarsening 5 m to 10 m, a working pixel with 3 or 4 valid native pixels of 4 is valid, with 2 or fewer it is
    not; when refining 10 m to 5 m, each working pixel is as valid as the native pixel it lies in."""
    data, transform, crs = crop
    valid = mask_pattern(*data.shape[1:])
    transform = transform @ Affine.scale(native_res / 5.0)
    scene = masked_scene(tmp_path / f"{how}.tif", data, valid, how, crs=crs, transform=transform)
    dtype = "float32" if how == "nan" else "uint8"
    scene_plan = open_scene(scene, dataclasses.replace(card_and_model[1], gsd=gsd, dtype=dtype))
    assert scene_plan.resampled
    with StripReader(scene_plan) as reader:
        pixels, working_valid = reader.collect(reader.submit_strip(0, scene_plan.grid.height, 0,
                                                                    scene_plan.grid.width))
    if native_res < gsd:
        share = valid.reshape(96, 2, 128, 2).sum(axis=(1, 3))
        expected = share >= 3
    else:
        expected = np.repeat(np.repeat(valid, 2, axis=0), 2, axis=1)
    assert working_valid.shape == expected.shape
    assert np.array_equal(working_valid, expected)
    assert np.isfinite(pixels).all() and (pixels[:, ~working_valid] == 0).all()
    if native_res < gsd:  # valid working pixels average only the valid native pixels
        full = (share == 4)
        blocks = data.reshape(3, 96, 2, 128, 2).astype(np.float64).mean(axis=(2, 4))
        assert np.abs(pixels[:, full] - blocks[:, full]).max() <= (1.0 if dtype == "uint8" else 1e-3)


def test_warped_column_chunks_read_by_two_threads_equal_one_window(card_and_model, crop, tmp_path, monkeypatch):
    """The warped strip read in 40-column chunks by two threads equals the whole strip warped at once, up to the
    rounding of a few averages: the chunks meet without seams and the threads' warps do not mix."""
    data, transform, crs = crop
    scene = masked_scene(tmp_path / "mask.tif", data, mask_pattern(*data.shape[1:]), "mask", crs=crs,
                         transform=transform @ Affine.rotation(20))
    plan = open_scene(scene, dataclasses.replace(card_and_model[1], gsd=7.0))
    assert plan.resampled
    with StripReader(plan, 1) as reader:
        whole = reader.collect(reader.submit_strip(-3, plan.grid.height + 6, -5, plan.grid.width + 10))
    monkeypatch.setattr("geoclassify.io.reader.CHUNK_WIDTH", 40)
    for _ in range(3):
        with StripReader(plan, 2) as reader:
            chunked = reader.collect(reader.submit_strip(-3, plan.grid.height + 6, -5, plan.grid.width + 10))
        assert np.array_equal(chunked[1], whole[1])
        # the warper's coordinates depend on the native window's offset, so an average can round the other way
        difference = np.abs(chunked[0].astype(int) - whole[0])
        assert difference.max() <= 1 and np.mean(difference > 0) < 0.002
    assert whole[1].any() and not whole[1].all()


def test_a_footprint_too_large_for_one_warp_is_warped_in_parts(card_and_model, crop, tmp_path, monkeypatch):
    """Native pixels far finer than the working pixels (0.25 m to 2 m: 64 native pixels each): a window whose
    footprint holds more than MAX_NATIVE_PIXELS is warped in halves, with the same validity and values (up to the
    rounding of an average) as in one warp."""
    data, transform, crs = crop
    fine = masked_scene(tmp_path / "fine.tif", data, mask_pattern(*data.shape[1:]), "mask", crs=crs,
                        transform=transform @ Affine.scale(0.05))
    plan = open_scene(fine, dataclasses.replace(card_and_model[1], gsd=2.0))  # 8 x 8 native pixels each
    with StripReader(plan, 1) as reader:
        whole = reader.collect(reader.submit_strip(0, plan.grid.height, 0, plan.grid.width))
    monkeypatch.setattr("geoclassify.io.warp.MAX_NATIVE_PIXELS", 300)  # about 4 working pixels a warp
    with StripReader(plan, 1) as reader:
        parts = reader.collect(reader.submit_strip(0, plan.grid.height, 0, plan.grid.width))
    assert plan.grid.shape == (24, 32) and whole[1].any() and not whole[1].all()
    assert np.array_equal(parts[1], whole[1])
    assert np.abs(parts[0].astype(int) - whole[0]).max() <= 1


def test_an_internal_mask_is_kept_on_the_resampling_path(card_and_model, crop, tmp_path):
    """A 5 m scene whose validity is an internal mask gives the same nodata areas as its 10 m twin."""
    data, transform, crs = crop
    valid = np.ones(data.shape[1:], bool)
    valid[40:120, 64:160] = False
    fine = masked_scene(tmp_path / "fine.tif", data, valid, "mask", crs=crs, transform=transform)
    coarse_data = data.reshape(3, 96, 2, 128, 2).mean(axis=(2, 4)).round().astype(np.uint8)
    coarse = masked_scene(tmp_path / "coarse.tif", coarse_data, valid[::2, ::2], "mask", crs=crs,
                          transform=transform @ Affine.scale(2))
    runner = runner_for(card_and_model, gsd=10.0)
    fine_classes, fine_grid = predict(runner, fine, tmp_path / "fine_out.tif")
    coarse_classes, coarse_grid = predict(runner, coarse, tmp_path / "coarse_out.tif")
    assert fine_grid == coarse_grid
    assert (coarse_classes == 255).sum() > 20
    assert np.array_equal(fine_classes == 255, coarse_classes == 255)


# --- 3. NaN and infinities ----------------------------------------------------------------------------------------

def test_nan_and_infinities_are_never_data(card_and_model, crop, tmp_path):
    """A float32 scene with NaN and +-inf holes gives the same classes and probabilities whether or not it declares
    NaN as nodata, and the same as the scene with those pixels declared nodata by a value."""
    data, transform, crs = crop
    floats = data.astype(np.float32)
    floats[:, 40:100, 60:140] = np.nan
    floats[0, 150:160, :] = np.inf
    floats[2, :, 0:16] = -np.inf
    holes = ~np.isfinite(floats).all(axis=0)
    flagged = np.where(holes, -1.0, floats).astype(np.float32)
    runner = runner_for(card_and_model, dtype="float32")
    results = {}
    for name, pixels, nodata in [("untagged", floats, None), ("tagged", floats, float("nan")),
                                 ("value", flagged, -1.0)]:
        scene = write(tmp_path / f"{name}.tif", pixels, crs=crs, transform=transform, nodata=nodata)
        probs = tmp_path / f"{name}_p.tif"
        predict_scene(str(scene), SceneOutputs(tmp_path / f"{name}.tif.out.tif", probs), runner,
                      PredictConfig(stride=8, probabilities_dtype="float32"))
        with rasterio.open(tmp_path / f"{name}.tif.out.tif") as c, rasterio.open(probs) as p:
            results[name] = c.read(1), p.read()
    classes, probs = results["value"]
    assert (classes == 255).sum() > 0 and (classes != 255).sum() > 0
    assert np.isfinite(probs[:, classes != 255]).all()
    for name in ("untagged", "tagged"):
        assert np.array_equal(results[name][0], classes)
        assert np.array_equal(results[name][1], probs, equal_nan=True)


# --- 4. orientation -----------------------------------------------------------------------------------------------

def flipped_twin(data, transform, rows: bool, cols: bool):
    """The same ground with the pixel rows and/or columns stored in reverse order."""
    height, width = data.shape[1:]
    if rows:
        data, transform = data[:, ::-1], transform @ Affine(1, 0, 0, 0, -1, height)
    if cols:
        data, transform = data[:, :, ::-1], transform @ Affine(-1, 0, width, 0, 1, 0)
    return np.ascontiguousarray(data), transform


@pytest.mark.parametrize("gsd", [None, 10.0])  # native pixels; resampled to 10 m
@pytest.mark.parametrize("rows, cols", [(True, False), (False, True), (True, True)])
def test_a_flipped_scene_gives_the_north_up_twins_classes(card_and_model, crop, tmp_path, rows, cols, gsd):
    """South-up, east-left and both: the same classes on the same ground as the north-up twin (same chip
    phase), in a north-up, east-right output that GDAL tools stack with others. Odd sizes: resampled by 2, the
    working grid must start at the north-west corner, not half a working pixel off."""
    data, transform, crs = crop
    data = data[:, :191, :255]
    runner = runner_for(card_and_model, gsd=gsd)
    north_up = write(tmp_path / "north_up.tif", data, crs=crs, transform=transform)
    flipped_data, flipped_transform = flipped_twin(data, transform, rows, cols)
    assert flipped_transform.e > 0 if rows else flipped_transform.a < 0
    flipped = write(tmp_path / "flipped.tif", flipped_data, crs=crs, transform=flipped_transform)
    expected, expected_grid = predict(runner, north_up, tmp_path / "north_up_out.tif")
    classes, grid = predict(runner, flipped, tmp_path / "flipped_out.tif")
    assert grid == expected_grid and grid.transform.e < 0 < grid.transform.a
    assert np.array_equal(classes, expected)


def test_a_scene_without_georeferencing_keeps_its_pixel_order(card_and_model, crop, tmp_path):
    """No geotransform (GDAL's identity, whose rows run "south"): not flipped, the classes of the georeferenced
    twin in the same pixel order."""
    data, transform, crs = crop
    runner = runner_for(card_and_model)
    with pytest.warns(rasterio.errors.NotGeoreferencedWarning):
        plain = write(tmp_path / "plain.tif", data)
    expected, _ = predict(runner, write(tmp_path / "twin.tif", data, crs=crs, transform=transform),
                          tmp_path / "twin_out.tif")
    classes, grid = predict(runner, plain, tmp_path / "plain_out.tif")
    assert grid.crs is None and grid.transform == Affine.scale(8)
    assert np.array_equal(classes, expected)


@pytest.mark.parametrize("transform", [
    Affine(4.330127, 2.5, 485899.0, 2.5, -4.330127, 5209246.0),  # rotated 30 degrees, 5 m pixels
    Affine(5.0, 3.0, 485899.0, 0.0, -4.0, 5209246.0),  # sheared: row steps of 5 m at 37 degrees from south
])
def test_a_rotated_scene_is_resampled_in_its_own_frame(card_and_model, crop, tmp_path, transform):
    """A rotated or sheared 5 m scene is resampled to 10 m in its own frame: the output transform is the scene's
    scaled by 2 x stride, and the classes are those of the same pixels north-up (the same pixel operations)."""
    data, north_up_transform, crs = crop
    runner = runner_for(card_and_model, gsd=10.0)
    rotated = write(tmp_path / "rotated.tif", data, crs=crs, transform=transform)
    north_up = write(tmp_path / "north_up.tif", data, crs=crs, transform=north_up_transform)
    classes, grid = predict(runner, rotated, tmp_path / "rotated_out.tif")
    expected, _ = predict(runner, north_up, tmp_path / "north_up_out.tif")
    assert grid.transform.almost_equals(transform @ Affine.scale(16), precision=1e-6)
    agree = np.mean(classes == expected)
    assert agree > 0.97, agree  # GDAL's kernel footprint differs from pixel-aligned blocks by rounding only


# --- 5. GCP- or RPC-only georeferencing ----------------------------------------------------------------------------

def gcp_twins(crop, tmp_path):
    """(scene georeferenced by 4 corner GCPs in the crop's CRS, its twin with a geotransform)."""
    data, transform, crs = crop
    height, width = data.shape[1:]
    gcps = [GroundControlPoint(row=r, col=c, x=(transform * (c, r))[0], y=(transform * (c, r))[1])
            for r, c in ((0, 0), (0, width), (height, 0), (height, width))]
    return (write(tmp_path / "gcps.tif", data, gcps=gcps, crs=crs),
            write(tmp_path / "twin.tif", data, crs=crs, transform=transform))


def rpc_twins(crop, tmp_path):
    """(scene georeferenced by RPCs only, its EPSG:4326 twin with a geotransform): the crop in EPSG:4326, whose
    pixels are an affine function of longitude and latitude, written as first-order RPCs (sample = f(longitude),
    line = f(latitude); RPC line and sample 0 are the centre of the upper-left pixel)."""
    data, transform, crs = crop
    t, width, height = calculate_default_transform(crs, "EPSG:4326", data.shape[2], data.shape[1],
                                                   *rasterio.transform.array_bounds(192, 256, transform))
    lonlat = np.zeros((3, height, width), np.uint8)
    reproject(data, lonlat, src_transform=transform, src_crs=crs, dst_transform=t, dst_crs="EPSG:4326",
              resampling=Resampling.bilinear)

    def term(index: int, value: float = 1.0) -> list[float]:  # RPC00B order: 1, L(ongitude), P(latitude), H, ...
        return [value if i == index else 0.0 for i in range(20)]

    rpcs = RPC(height_off=0, height_scale=1, lat_off=t.f + t.e * height / 2, lat_scale=-t.e * height / 2,
               line_off=height / 2 - 0.5, line_scale=height / 2, line_num_coeff=term(2, -1.0), line_den_coeff=term(0),
               long_off=t.c + t.a * width / 2, long_scale=t.a * width / 2, samp_off=width / 2 - 0.5,
               samp_scale=width / 2, samp_num_coeff=term(1), samp_den_coeff=term(0))
    return (write(tmp_path / "rpcs.tif", lonlat, rpcs=rpcs),
            write(tmp_path / "twin.tif", lonlat, crs="EPSG:4326", transform=t))


@pytest.mark.parametrize("twins, gsd", [(gcp_twins, None), (gcp_twins, 10.0), (rpc_twins, None), (rpc_twins, 10.0)])
def test_a_scene_georeferenced_by_gcps_or_rpcs_only_is_warped_onto_their_ground(card_and_model, crop, tmp_path,
                                                                                 caplog, twins, gsd):
    """GCPs or RPCs and no geotransform: the output is in their CRS (EPSG:4326 for RPCs) on the twin's grid,
    with the twin's classes, resampled or not; the log says how the scene is georeferenced, not that it has no
    CRS."""
    scene, twin = twins(crop, tmp_path)
    runner = runner_for(card_and_model, gsd=gsd)
    with caplog.at_level("INFO", logger="geoclassify"):
        classes, grid = predict(runner, scene, tmp_path / "scene_out.tif")
    assert "no CRS" not in caplog.text and "georeferenced by its" in caplog.text
    expected, expected_grid = predict(runner, twin, tmp_path / "twin_out.tif")
    assert grid.crs == expected_grid.crs and grid.shape == expected_grid.shape
    assert grid.transform.almost_equals(expected_grid.transform, precision=1e-9)
    assert np.mean(classes == expected) > 0.97


# --- 6. palettes ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bands", [None, (1, 1, 1)])
def test_palette_indices_are_refused_with_the_expand_advice(card_and_model, crop, tmp_path, bands):
    """Colour-table indices are never classified as reflectance, even with --bands 1,1,1; the refusal gives the
    GDAL command that expands them."""
    data, transform, crs = crop
    indices = (data[0] // 32).astype(np.uint8)[None]
    scene = write(tmp_path / "palette.tif", indices, crs=crs, transform=transform, photometric="palette")
    with rasterio.open(scene, "r+") as ds:
        ds.write_colormap(1, {i: (i * 32, 255 - i * 32, 0, 255) for i in range(8)})
    with pytest.raises(IncompatibleSceneError, match=r"colour-table.*gdal_translate -expand rgb") as err:
        predict_scene(str(scene), SceneOutputs(tmp_path / "out.tif"), runner_for(card_and_model),
                      PredictConfig(bands=bands))
    assert "--bands" not in str(err.value)
    assert not (tmp_path / "out.tif").exists()
