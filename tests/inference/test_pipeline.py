"""The predict engine on real rasters: georeferencing, nodata, blending, resampling, bad scenes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from geoclassify.errors import IncompatibleSceneError, InputError, OutputError
from geoclassify.inference.config import PredictConfig, SceneOutputs
from geoclassify.inference.pipeline import predict_scene
from geoclassify.inference.predictor import load_predictor
from geoclassify.inference.runners import LocalRunner
from tests.conftest import interrupt_after


@pytest.fixture(scope="module")
def chips(chip_model):
    return LocalRunner(load_predictor(str(chip_model), device="cpu"))


@pytest.fixture(scope="module")
def seg(seg_model):
    return LocalRunner(load_predictor(str(seg_model), device="cpu"))


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.profile, ds.tags(1), ds


def test_chip_output_is_georeferenced_on_the_stride_grid(chips, rgb_byte, tmp_path):
    out = tmp_path / "classes.tif"
    predict_scene(str(rgb_byte), SceneOutputs(out), chips, PredictConfig(stride=16))
    with rasterio.open(rgb_byte) as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs
        assert dst.transform == src.transform @ Affine.scale(16)
        assert (dst.height, dst.width) == (-(-src.height // 16), -(-src.width // 16))
        # the output covers the scene: same upper-left corner, lower-right within one cell
        assert dst.bounds.left == src.bounds.left and dst.bounds.top == src.bounds.top
        assert 0 <= src.bounds.bottom - dst.bounds.bottom < 16 * src.res[1]
        assert dst.profile["tiled"] and dst.profile["compress"] == "deflate" and dst.nodata == 255
        assert dst.dtypes[0] == "uint8"


def test_chip_output_marks_nodata_cells_and_skips_them(chips, rgb_byte, tmp_path):
    out, probs = tmp_path / "classes.tif", tmp_path / "probs.tif"
    result = predict_scene(str(rgb_byte), SceneOutputs(out, probs), chips,
                           PredictConfig(stride=32, probabilities_dtype="float32"))
    with rasterio.open(rgb_byte) as src:
        valid = src.dataset_mask() > 0
    classes = read(out)[0][0]
    h, w = classes.shape
    padded = np.zeros((h * 32, w * 32), bool)
    padded[: valid.shape[0], : valid.shape[1]] = valid
    cells = padded.reshape(h, 32, w, 32)
    # a cell gets a class when it holds a valid pixel and its chip at least a quarter (MIN_REAL_SHARE) of them
    cell_valid = cells.any(axis=(1, 3)) & (cells.sum(axis=(1, 3)) >= 32 * 32 // 4)
    assert np.array_equal(classes == 255, ~cell_valid)
    assert result.skipped == int((~cell_valid).sum()) > 0
    # every cell whose 32-pixel chip is all valid holds the model's own output on that chip
    with rasterio.open(rgb_byte) as src:
        data = src.read()
    full = [(r, c) for r in range(h) for c in range(w) if padded[r * 32 : r * 32 + 32, c * 32 : c * 32 + 32].all()]
    expected = chips.predictor.predict(np.stack([data[:, r * 32 : r * 32 + 32, c * 32 : c * 32 + 32] for r, c in full]))
    cells = tuple(np.array(full).T)
    assert len(full) > 100 and np.ptp(expected[:, 0]) > 0.01, "the chips' probabilities must differ"
    np.testing.assert_allclose(read(probs)[0][(slice(None), *cells)].T, expected, rtol=0, atol=1e-6)
    assert np.array_equal(classes[cells], expected.argmax(axis=1))


def test_class_names_colours_and_categories_are_embedded(chips, rgb_byte, tmp_path):
    out = tmp_path / "classes.tif"
    predict_scene(str(rgb_byte), SceneOutputs(out), chips, PredictConfig())
    with rasterio.open(out) as ds:
        assert json.loads(ds.tags(1)["CLASS_NAMES"]) == ["water", "land"]
        cmap = ds.colormap(1)
        assert cmap[0] == (0, 0, 255, 255) and cmap[1] == (0, 160, 0, 255) and cmap[255][3] == 0
    aux = (tmp_path / "classes.tif.aux.xml").read_text()
    assert "<Category>water</Category>" in aux and "<Category>land</Category>" in aux


def test_segmentation_tiled_equals_one_window(seg, rgb_byte, tmp_path):
    tiled, whole = tmp_path / "tiled.tif", tmp_path / "whole.tif"
    ptiled, pwhole = tmp_path / "ptiled.tif", tmp_path / "pwhole.tif"
    r1 = predict_scene(str(rgb_byte), SceneOutputs(tiled, ptiled), seg,
                       PredictConfig(tile_size=64, overlap=24, probabilities_dtype="float32"))
    r2 = predict_scene(str(rgb_byte), SceneOutputs(whole, pwhole), seg,
                       PredictConfig(tile_size=1024, overlap=16, probabilities_dtype="float32"))
    assert r1.windows > 100 and r2.windows == 1
    a, b = read(tiled)[0], read(whole)[0]
    valid = a != 255
    assert len(np.unique(a[valid])) == 3, "the test model must produce all classes for this to mean anything"
    assert np.array_equal(a, b)
    pa, pb = read(ptiled)[0], read(pwhole)[0]
    np.testing.assert_allclose(pa[:, valid[0]], pb[:, valid[0]], atol=1e-5)


def test_segmentation_nodata_follows_the_input_mask(seg, rgb_byte, tmp_path):
    out = tmp_path / "seg.tif"
    result = predict_scene(str(rgb_byte), SceneOutputs(out), seg, PredictConfig())
    with rasterio.open(rgb_byte) as src:
        valid = src.dataset_mask() > 0
    classes = read(out)[0][0]
    assert np.array_equal(classes == 255, ~valid)
    assert result.skipped > 0


def test_uint8_probabilities_sum_to_255_and_are_masked(seg, rgb_byte, tmp_path):
    out, probs = tmp_path / "seg.tif", tmp_path / "probs.tif"
    predict_scene(str(rgb_byte), SceneOutputs(out, probs), seg, PredictConfig())
    with rasterio.open(probs) as ds, rasterio.open(out) as cls:
        p = ds.read().astype(int)
        mask = ds.dataset_mask() > 0
        assert ds.count == 3 and ds.descriptions == ("a", "b", "c")
        assert np.array_equal(mask, cls.read(1) != 255)
    total = p.sum(axis=0)[mask]
    assert total.min() >= 253 and total.max() <= 257


def test_resamples_to_the_model_gsd(naip, tmp_path, chip_model, caplog):
    import dataclasses

    from geoclassify.inference.predictor import TorchPredictor
    from geoclassify.models.files import load_model

    model, card = load_model(chip_model)
    predictor = LocalRunner(TorchPredictor(model, dataclasses.replace(card, gsd=10.0), device="cpu"))
    out = tmp_path / "naip.tif"
    with caplog.at_level("INFO", logger="geoclassify"):
        predict_scene(str(naip), SceneOutputs(out), predictor, PredictConfig(stride=8))
    assert "resampling" in caplog.text
    with rasterio.open(naip) as src, rasterio.open(out) as dst:
        assert dst.res == pytest.approx((80.0, 80.0))  # 10 m working grid x stride 8
        assert (dst.bounds.left, dst.bounds.top) == pytest.approx((src.bounds.left, src.bounds.top))
        assert dst.width == -(-round(src.width / 2) // 8)
    native = tmp_path / "native.tif"
    predict_scene(str(naip), SceneOutputs(native), predictor, PredictConfig(stride=8, resample=False))
    with rasterio.open(native) as dst:
        assert dst.res == pytest.approx((40.0, 40.0))


def test_bands_override_and_refusals(chips, naip, tmp_path):
    """--bands 4,1,2 feeds the model what a scene physically holding bands 4, 1, 2 in that order gives it."""
    reordered = tmp_path / "naip_412.tif"
    with rasterio.open(naip) as src:
        with rasterio.open(reordered, "w", **{**src.profile, "count": 3}) as dst:
            dst.write(src.read([4, 1, 2]))
    runs = {"bands_412": (naip, (4, 1, 2)), "reordered": (reordered, None), "default": (naip, None)}
    probs = {}
    for name, (scene, bands) in runs.items():
        outputs = SceneOutputs(tmp_path / f"{name}.tif", tmp_path / f"{name}_p.tif")
        predict_scene(str(scene), outputs, chips, PredictConfig(bands=bands, probabilities_dtype="float32"))
        probs[name] = read(outputs.probabilities)[0]
    assert np.array_equal(probs["bands_412"], probs["reordered"], equal_nan=True)
    classified = np.isfinite(probs["default"]).all(axis=0)  # cells of chips with too few real pixels are NaN
    assert classified.sum() > 100 and np.array_equal(classified, np.isfinite(probs["bands_412"]).all(axis=0))
    assert not np.allclose(probs["bands_412"][:, classified], probs["default"][:, classified], atol=1e-3), \
        "the bands must matter to the model"
    with pytest.raises(IncompatibleSceneError, match=r"expects 3 band.*has 4 band.*\[5\]"):
        predict_scene(str(naip), SceneOutputs(tmp_path / "bad.tif"), chips, PredictConfig(bands=(1, 2, 5)))
    with pytest.raises(IncompatibleSceneError, match="expects 3 band"):
        predict_scene(str(naip), SceneOutputs(tmp_path / "bad.tif"), chips, PredictConfig(bands=(1, 2)))
    assert not (tmp_path / "bad.tif").exists()


def test_wrong_dtype_is_refused(chips, scene_copy, tmp_path):
    with rasterio.open(scene_copy("x.tif")) as ds:
        data = ds.read().astype("uint16") * 200
    scene = scene_copy("u16.tif", data=data)
    with pytest.raises(IncompatibleSceneError, match="uint8.*uint16"):
        predict_scene(str(scene), SceneOutputs(tmp_path / "out.tif"), chips, PredictConfig())
    assert not (tmp_path / "out.tif").exists()


def test_scene_smaller_than_one_tile_is_padded(chips, seg, scene_copy, tmp_path):
    small = scene_copy("small.tif", window=Window(300, 300, 20, 13))
    out = tmp_path / "small_out.tif"
    predict_scene(str(small), SceneOutputs(out), chips, PredictConfig())
    classes = read(out)[0]
    # the one chip: the 20x13 scene (25.4 % of the chip) at its top-left, mirrored out to the chip's edges
    with rasterio.open(small) as ds:
        data, valid = ds.read(), ds.dataset_mask() > 0
    assert valid.all()
    chip = np.pad(data, ((0, 0), (0, 19), (0, 12)), mode="symmetric")[None]
    assert classes.shape == (1, 1, 1) and classes[0, 0, 0] == chips.predictor.predict(chip).argmax()
    out2 = tmp_path / "small_seg.tif"
    predict_scene(str(small), SceneOutputs(out2), seg, PredictConfig())
    assert read(out2)[0].shape == (1, 13, 20)


def test_all_nodata_scene_gives_a_valid_all_nodata_output(chips, scene_copy, tmp_path):
    with rasterio.open(scene_copy("x.tif")) as ds:
        zeros = np.zeros((3, ds.height, ds.width), dtype="uint8")
    scene = scene_copy("empty.tif", data=zeros)
    out = tmp_path / "out.tif"
    result = predict_scene(str(scene), SceneOutputs(out), chips, PredictConfig())
    assert result.skipped == result.windows
    assert (read(out)[0] == 255).all()


def test_scene_without_crs_warns_and_writes_without_crs(chips, scene_copy, tmp_path, caplog):
    scene = scene_copy("nocrs.tif", crs=None)
    out = tmp_path / "out.tif"
    with caplog.at_level("WARNING", logger="geoclassify"):
        predict_scene(str(scene), SceneOutputs(out), chips, PredictConfig())
    assert "no CRS" in caplog.text
    with rasterio.open(out) as ds:
        assert ds.crs is None


def test_truncated_tiff_fails_cleanly(chips, rgb_byte, tmp_path):
    broken = tmp_path / "broken.tif"
    broken.write_bytes(rgb_byte.read_bytes()[: 600_000])
    out = tmp_path / "out.tif"
    with pytest.raises(InputError, match="damaged or truncated|cannot open"):
        predict_scene(str(broken), SceneOutputs(out), chips, PredictConfig())
    assert list(tmp_path.iterdir()) == [broken]


def test_existing_output_is_kept_without_overwrite(chips, rgb_byte, tmp_path):
    out = tmp_path / "out.tif"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="--overwrite"):
        predict_scene(str(rgb_byte), SceneOutputs(out), chips, PredictConfig())
    assert out.read_bytes() == b"keep me"
    predict_scene(str(rgb_byte), SceneOutputs(out), chips, PredictConfig(overwrite=True))
    assert read(out)[1]["driver"] == "GTiff"


def test_interrupted_run_leaves_nothing(chips, rgb_byte, tmp_path):
    out = tmp_path / "out.tif"

    with pytest.raises(KeyboardInterrupt):
        predict_scene(str(rgb_byte), SceneOutputs(out), chips, PredictConfig(), progress=interrupt_after(1))
    assert list(tmp_path.iterdir()) == []


def test_cog_output(chips, rgb_byte, tmp_path):
    out = tmp_path / "cog.tif"
    predict_scene(str(rgb_byte), SceneOutputs(out), chips, PredictConfig(cog=True, stride=8))
    with rasterio.open(out) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert json.loads(ds.tags(1)["CLASS_NAMES"]) == ["water", "land"]
        assert ds.colormap(1)[1] == (0, 160, 0, 255)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cog.tif", "cog.tif.aux.xml"]


def test_vrt_input_gives_the_same_result_as_the_tiff(chips, rgb_byte, tmp_path):
    from rasterio.shutil import copy as rio_copy

    vrt = tmp_path / "scene.vrt"
    rio_copy(rgb_byte, vrt, driver="VRT")
    a, b = tmp_path / "from_tif.tif", tmp_path / "from_vrt.tif"
    predict_scene(str(rgb_byte), SceneOutputs(a), chips, PredictConfig(stride=16))
    predict_scene(str(vrt), SceneOutputs(b), chips, PredictConfig(stride=16))
    assert np.array_equal(read(a)[0], read(b)[0])


def test_unwritable_probabilities_leave_no_class_output(chips, rgb_byte, tmp_path):
    out = tmp_path / "classes.tif"
    with pytest.raises(OutputError):
        predict_scene(str(rgb_byte), SceneOutputs(out, tmp_path / "missing" / "p.tif"), chips, PredictConfig())
    assert list(tmp_path.iterdir()) == []


def test_polygons_follow_the_rasters_they_were_made_from(chips, rgb_byte, tmp_path):
    """--resume on complete outputs writes nothing; --overwrite --resume rewrites the rasters and their polygons."""
    import geopandas as gpd

    outputs = SceneOutputs(tmp_path / "classes.tif", vector=tmp_path / "fields.gpkg")
    predict_scene(str(rgb_byte), outputs, chips, PredictConfig(stride=16))
    first = outputs.vector.stat().st_mtime_ns
    again = predict_scene(str(rgb_byte), outputs, chips, PredictConfig(stride=16, resume=True))
    assert again.done_earlier and again.polygons is None and outputs.vector.stat().st_mtime_ns == first
    redone = predict_scene(str(rgb_byte), outputs, chips, PredictConfig(stride=32, resume=True, overwrite=True))
    assert not redone.done_earlier and redone.polygons is not None
    with rasterio.open(outputs.classes) as ds:
        valid_area = float((ds.read(1) != 255).sum()) * ds.res[0] * ds.res[1]
    assert gpd.read_file(outputs.vector).area.sum() == pytest.approx(valid_area)  # the 32-pixel map's polygons
