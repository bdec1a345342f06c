"""Chips that are mostly padding (issue 16, class 10): a chip is completed by mirroring its own real pixels, and
gets no class (nodata 255, counted as skipped) when under MIN_REAL_SHARE of its pixels are real. Segmentation
tiles keep the band-mean fill (their padded pixels are never output)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from geoclassify.geo.grid import Grid
from geoclassify.inference.config import PredictConfig, SceneOutputs
from geoclassify.inference.layouts import MIN_REAL_SHARE, ChipLayout
from geoclassify.inference.pipeline import log_result, predict_scene
from geoclassify.inference.predictor import load_predictor
from geoclassify.inference.runners import LocalRunner, fill_window
from geoclassify.models.files import default_model_path


class Recording:
    """A predictor that keeps every batch the model is given."""

    def __init__(self, predictor):
        self.predictor, self.card, self.source = predictor, predictor.card, predictor.source
        self.pixels_per_call = predictor.pixels_per_call
        self.batches: list[np.ndarray] = []

    def predict(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(batch.copy())
        return self.predictor.predict(batch)


@pytest.fixture(scope="module")
def chip_predictor(chip_model):
    return load_predictor(str(chip_model), device="cpu")


def read_classes(path):
    with rasterio.open(path) as ds:
        return ds.read(1)


def mirrored(part: np.ndarray, size: int) -> np.ndarray:
    """`part` (bands, h, w) at the top-left of a `size` chip, mirrored out to its edges."""
    return np.pad(part, ((0, 0), (0, size - part.shape[1]), (0, size - part.shape[2])), mode="symmetric")


def test_min_real_share_is_a_quarter():
    # chosen in benchmarks/results/edge_padding.md; the docs and these tests hold this value
    assert MIN_REAL_SHARE == 0.25


def test_fill_window_mirrors_the_real_pixels_whatever_the_card_means():
    rng = np.random.default_rng(0)
    chip = rng.integers(1, 255, (3, 8, 8), dtype=np.uint8)
    for rows, cols in [(slice(0, 3), slice(0, 8)), (slice(5, 8), slice(2, 8)), (slice(0, 8), slice(7, 8))]:
        valid = np.zeros((8, 8), bool)
        valid[rows, cols] = True
        window = np.where(valid, chip, 0).astype(np.uint8)
        fill_window(window, valid, (60.0, 60.0, 60.0))
        part = chip[:, rows, cols]
        widths = ((0, 0), (rows.start, 8 - rows.stop), (cols.start, 8 - cols.stop))
        assert np.array_equal(window, np.pad(part, widths, mode="symmetric"))
        assert np.array_equal(window[:, rows, cols], part)
    # one real pixel: the whole chip is that pixel; no real pixel: the band means
    window, valid = np.zeros((3, 8, 8), np.uint8), np.zeros((8, 8), bool)
    window[:, 4, 4], valid[4, 4] = (7, 8, 9), True
    fill_window(window, valid, (60.0, 60.0, 60.0))
    assert (window == np.array([7, 8, 9], np.uint8)[:, None, None]).all()
    window = np.zeros((3, 8, 8), np.float32)
    fill_window(window, np.zeros((8, 8), bool), (1.5, 2.5, 3.5))
    assert (window == np.array([1.5, 2.5, 3.5], np.float32)[:, None, None]).all()


def test_fill_window_fills_nodata_holes_from_the_nearest_real_pixel():
    window = np.zeros((1, 4, 6), np.float32)
    window[0] = [[1, 2, 3, 4, 5, 6]] * 4
    valid = np.ones((4, 6), bool)
    valid[1:3, 4] = False  # a hole next to column 3 (value 4) ...
    valid[:, 5] = False  # ... and a nodata column at the edge, mirrored from the box
    window[0][~valid] = np.nan
    fill_window(window, valid, (0.0,))
    assert np.array_equal(window[0, :, 4], [5, 4, 4, 5]) or np.array_equal(window[0, :, 4], [5, 5, 5, 5])
    assert np.array_equal(window[0, :, 5], window[0, :, 4])
    assert not np.isnan(window).any()


def test_chips_under_the_minimum_share_are_not_sent_to_the_model():
    # a 40 x 30 scene, 32-pixel chips at stride 32: chip (0, 0) holds 30 x 32 = 960 real pixels (94 %),
    # chip (0, 1) holds 30 x 8 = 240 (23 %, under 25 %): no class
    layout = ChipLayout(Grid(30, 40, Affine.identity()), 32, 32, 2)
    (strip,) = layout.strips()
    valid = np.zeros((strip.height, strip.width), bool)
    valid[:30, :40] = True
    offsets, active = layout.windows(strip, valid)
    assert offsets == [(0, 0), (0, 32)] and active.tolist() == [True, False]
    assert layout.real_pixels(strip, valid).tolist() == [[960, 240]]
    # the threshold is inclusive: 256 of 1024 real pixels (exactly 25 %) is enough, 255 is not
    for real, expected in [(256, True), (255, False)]:
        chip = np.zeros(32 * 32, bool)
        chip[:real] = True
        valid[:] = False
        valid[:, :32], valid[:, 32:] = True, chip.reshape(32, 32)
        assert layout.windows(strip, valid)[1].tolist() == [True, expected]


def test_stride_below_the_chip_keeps_the_scene_corner():
    # chips are centred on their cells, so a corner cell's chip starts at most half a chip before the scene:
    # at least a quarter of it is real and it keeps its class
    layout = ChipLayout(Grid(100, 100, Affine.identity()), 32, 1, 2)
    strip = layout.strips()[0]
    valid = np.zeros((strip.height, strip.width), bool)
    assert (strip.row, strip.col) == (-16, -16)
    valid[16:116, 16:116] = True
    counts = layout.real_pixels(strip, valid)
    assert counts[0, 0] == 16 * 16 and layout.windows(strip, valid)[1][0]


def test_scene_smaller_than_a_chip_is_classified_from_its_own_pixels(chip_predictor, scene_copy, tmp_path):
    small = scene_copy("small.tif", window=Window(300, 300, 24, 20))  # 480 of 1024 pixels: 47 %
    recording = Recording(chip_predictor)
    out = tmp_path / "small_out.tif"
    result = predict_scene(str(small), SceneOutputs(out), LocalRunner(recording), PredictConfig())
    with rasterio.open(small) as ds:
        data, valid = ds.read(), ds.dataset_mask() > 0
    assert valid.all()
    expected = mirrored(data, 32)
    (batch,) = recording.batches
    assert np.array_equal(batch, expected[None]), "the model must see the scene mirrored out to the chip's edges"
    assert result.skipped == 0
    assert read_classes(out).tolist() == [[chip_predictor.predict(expected[None]).argmax()]]


def test_scene_under_the_minimum_share_gets_no_class(chip_predictor, scene_copy, tmp_path):
    for name, window in [("tiny.tif", Window(300, 300, 12, 10)), ("one.tif", Window(300, 300, 1, 1))]:
        recording = Recording(chip_predictor)
        out = tmp_path / f"out_{name}"
        result = predict_scene(str(scene_copy(name, window=window)), SceneOutputs(out), LocalRunner(recording),
                               PredictConfig())
        assert read_classes(out).tolist() == [[255]]
        assert result.windows == result.skipped == 1 and recording.batches == []


def test_one_pixel_strip_gets_no_class(chip_predictor, scene_copy, tmp_path, caplog):
    # a one-pixel-wide strip: every chip holds 32 of 1024 real pixels (3 %)
    out = tmp_path / "strip_out.tif"
    result = predict_scene(str(scene_copy("strip.tif", window=Window(300, 200, 1, 200))), SceneOutputs(out),
                           LocalRunner(chip_predictor), PredictConfig(stride=8))
    classes = read_classes(out)
    assert classes.shape == (25, 1) and (classes == 255).all() and result.skipped == result.windows == 25
    with caplog.at_level("INFO", logger="geoclassify"):
        log_result(result)
    assert "no class anywhere" in caplog.text and "25 %" in caplog.text  # not silent: the user is told why


def test_scene_edges_and_nodata_follow_the_rule(chip_predictor, rgb_byte, tmp_path):
    """RGB.byte.tif (nodata 0 around a tilted footprint) at stride 32: a cell gets a class when its chip holds
    a valid pixel in the cell and at least a quarter of real pixels, and that class is the model's on the chip
    completed by `fill_window`."""
    recording = Recording(chip_predictor)
    out, probs = tmp_path / "classes.tif", tmp_path / "probs.tif"
    result = predict_scene(str(rgb_byte), SceneOutputs(out, probs), LocalRunner(recording),
                           PredictConfig(stride=32, probabilities_dtype="float32"))
    with rasterio.open(rgb_byte) as src:
        data, valid = src.read(), src.dataset_mask() > 0
    classes = read_classes(out)
    h, w = classes.shape
    padded_valid = np.zeros((h * 32, w * 32), bool)
    padded_valid[: valid.shape[0], : valid.shape[1]] = valid
    padded = np.zeros((3, h * 32, w * 32), np.uint8)
    padded[:, : valid.shape[0], : valid.shape[1]] = data
    cells = padded_valid.reshape(h, 32, w, 32)
    real = cells.sum(axis=(1, 3))
    classified = real >= 256
    assert np.array_equal(classes != 255, classified)
    assert result.skipped == int((~classified).sum()) and result.windows == h * w
    assert (real[classes == 255] > 0).sum() > 10, "some edge chips must hold real pixels, but too few"
    chips = []
    for r, c in zip(*np.nonzero(classified)):
        chip = padded[:, r * 32 : r * 32 + 32, c * 32 : c * 32 + 32].copy()
        fill_window(chip, padded_valid[r * 32 : r * 32 + 32, c * 32 : c * 32 + 32], chip_predictor.card.mean)
        chips.append(chip)
    fed = np.concatenate(recording.batches)
    assert np.array_equal(fed, np.stack(chips))
    expected = chip_predictor.predict(np.stack(chips))
    assert np.array_equal(classes[classified], expected.argmax(axis=1))


@pytest.fixture(scope="module")
def default_model():
    return load_predictor(str(default_model_path()), device="cpu")


@pytest.mark.parametrize("row, col, expected", [(20, 100, "non_agricultural"), (110, 380, "agricultural")])
def test_tiny_scene_takes_the_class_of_its_ground_not_of_the_padding(default_model, naip, tmp_path, row, col,
                                                                      expected):
    """A 40 x 30 scene of the NAIP demo scene at 10 m with the default model: its class is the class of the chip
    centred on the same ground in the whole scene. With the band means as padding (before) the grassland and
    lake of the first place came out agricultural (0.88): 70 % of the chip was the same constant."""
    with rasterio.open(naip) as src:
        data = src.read((1, 2, 3), out_shape=(3, src.height // 2, src.width // 2))
        transform, crs = src.transform * Affine.scale(2), src.crs
    tiny = data[:, row : row + 30, col : col + 40]
    path = tmp_path / "tiny.tif"
    with rasterio.open(path, "w", driver="GTiff", width=40, height=30, count=3, dtype="uint8", crs=crs,
                       transform=transform * Affine.translation(col, row)) as dst:
        dst.write(tiny)
    recording = Recording(default_model)
    out = tmp_path / "tiny_out.tif"
    predict_scene(str(path), SceneOutputs(out), LocalRunner(recording), PredictConfig())
    names = default_model.card.class_names
    context = data[None, :, row - 17 : row + 47, col - 12 : col + 52]  # the 64-pixel chip centred on it
    assert names[int(read_classes(out)[0, 0])] == expected == names[int(default_model.predict(context).argmax())]
    (batch,) = recording.batches
    assert np.array_equal(batch[0], mirrored(tiny, 64))
    mean_padded = np.empty((1, 3, 64, 64), np.uint8)
    mean_padded[:] = np.array([round(m) for m in default_model.card.mean], np.uint8)[:, None, None]
    mean_padded[0, :, :30, :40] = tiny
    if expected == "non_agricultural":
        assert names[int(default_model.predict(mean_padded).argmax())] == "agricultural", "the padding decided"


def test_segmentation_keeps_every_valid_pixel_and_the_band_mean_padding(seg_model, scene_copy, tmp_path):
    """Segmentation has no minimum share (padded pixels are never output): a 1 x 1 scene gets its class, and the
    tile's padding is the band means, whatever the tile's position (so a tiled run equals one window)."""
    predictor = load_predictor(str(seg_model), device="cpu")
    recording = Recording(predictor)
    out = tmp_path / "seg_one.tif"
    scene = scene_copy("one.tif", window=Window(300, 300, 1, 1))
    result = predict_scene(str(scene), SceneOutputs(out), LocalRunner(recording), PredictConfig())
    assert result.skipped == 0 and read_classes(out).shape == (1, 1) and read_classes(out)[0, 0] != 255
    fed = np.concatenate(recording.batches)
    with rasterio.open(scene) as ds:
        pixel = ds.read()[:, 0, 0]
    means = np.array([round(m) for m in predictor.card.mean], np.uint8)
    is_pixel = (fed == pixel[None, :, None, None]).all(axis=1)
    assert is_pixel.sum() == 1
    assert (fed.transpose(0, 2, 3, 1)[~is_pixel] == means).all()
