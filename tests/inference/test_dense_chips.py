"""Chip classifiers run fully convolutionally (geoclassify.inference.dense_chips): the phases, tiles and pooling
give chip by chip's logits exactly where the network looks only inside its cells, on real scenes at every kind of
stride; the bundled model's ONNX twin carries the cell output and agrees with torch; what cannot run so is refused."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
import torch.nn as nn
from click.testing import CliRunner

from geoclassify import LocalRunner, PredictConfig, SceneOutputs, load_predictor, predict_scene
from geoclassify.cli.main import cli as main
from geoclassify.geo.tiling import chip_starts
from geoclassify.inference import dense_chips
from geoclassify.inference.dense_chips import CellGeometry, axis_phases, cell_side
from geoclassify.inference.predictor import TorchPredictor
from geoclassify.models.compact import CompactCNN
from geoclassify.models.dense import cell_logits
from tests.conftest import make_card


def cell_local_model() -> CompactCNN:
    """A chip classifier whose features see only their own 16-px cell (a 16 x 16 convolution at stride 16), so a
    chip's logits do not depend on what lies around it: fully convolutional must equal chip by chip."""
    torch.manual_seed(3)
    model = CompactCNN(3, 3, widths=(8,))
    model.features = nn.Sequential(nn.Conv2d(3, 8, 16, stride=16), nn.ReLU())
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(4.0)
    return model.eval()


@pytest.fixture(scope="module")
def naip_crops(naip, tmp_path_factory):
    """Real NAIP windows written as scenes: 301 x 203 px (strips of several tiles and phases) and 40 x 30 px (a
    scene smaller than a chip: every chip is padding for the most part)."""
    folder = tmp_path_factory.mktemp("crops")
    paths = {}
    with rasterio.open(naip) as src:
        for name, window in {"large": ((100, 303), (50, 351)), "small": ((400, 430), (600, 640))}.items():
            window = rasterio.windows.Window.from_slices(*window)
            profile = src.profile | dict(width=window.width, height=window.height,
                                         transform=src.window_transform(window), count=3)
            paths[name] = folder / f"{name}.tif"
            with rasterio.open(paths[name], "w", **profile) as dst:
                dst.write(src.read((1, 2, 3), window=window))
    return paths


def run(scene, runner, tmp_path, name: str, **options) -> tuple[np.ndarray, np.ndarray]:
    out, probs = tmp_path / f"{name}.tif", tmp_path / f"{name}_p.tif"
    predict_scene(str(scene), SceneOutputs(out, probs), runner, PredictConfig(probabilities_dtype="float32",
                                                                                  overwrite=True, **options))
    with rasterio.open(out) as a, rasterio.open(probs) as p:
        return a.read(1), p.read()


@pytest.mark.parametrize("stride", [64, 32, 24, 16, 12, 5])
@pytest.mark.parametrize("crop", ["large", "small"])
def test_fully_convolutional_equals_chip_by_chip_where_cells_see_only_themselves(stride, crop, naip_crops,
                                                                                 tmp_path, monkeypatch):
    """Strides that are multiples of the cell (64, 32, 16: one phase), share part of it (24, 12: 2 and 4 phases an
    axis) or nothing (5: 16 phases); tiles of a few chips (a small pixel budget) so that a strip has many. Chips
    past the scene's edge are filled from the scene mirrored, not from their own pixels alone: the same only where
    their real part is at least as wide as their padding (`mirrored_alike`)."""
    card = make_card(class_names=("a", "b", "c"), class_colors=((1, 1, 1), (2, 2, 2), (3, 3, 3)), tile_size=64,
                     mean=(120.0, 120.0, 110.0), std=(40.0, 35.0, 30.0))
    monkeypatch.setattr(dense_chips, "TILE_PIXELS", 64 * 64 * 3)
    predictor = TorchPredictor(cell_local_model(), card, device="cpu")
    predictor.pixels_per_call = 64 * 64 * 3
    assert predictor.cells == CellGeometry(16, 0)
    runner = LocalRunner(predictor)
    classes, probs = run(naip_crops[crop], runner, tmp_path, "chips", stride=stride)
    dense_classes, dense_probs = run(naip_crops[crop], runner, tmp_path, "dense", stride=stride,
                                     fully_convolutional=True)
    assert np.nanstd(probs) > 0.05, "the model's probabilities must vary for the comparison to mean anything"
    with rasterio.open(naip_crops[crop]) as src:
        same_fill = mirrored_alike(src.height, 64, stride)[:, None] & mirrored_alike(src.width, 64, stride)[None, :]
    assert same_fill.mean() >= 0.5
    np.testing.assert_allclose(dense_probs[:, same_fill], probs[:, same_fill], rtol=0, atol=2e-5)
    assert np.array_equal(dense_classes[same_fill], classes[same_fill])
    assert np.array_equal(dense_classes == 255, classes == 255)


def mirrored_alike(length: int, chip: int, stride: int) -> np.ndarray:
    """Along one axis, the chips whose padding past the scene is the same filled chip by chip (the chip's own real
    part mirrored, again and again where it is narrower than the padding) as for the whole strip (the scene
    mirrored): those whose real part is at least as wide as their padding, or the whole scene."""
    starts = np.asarray(chip_starts(length, chip, stride))
    real = np.minimum(starts + chip, length) - np.maximum(starts, 0)
    return (real >= chip - real) | (real == length)


def test_the_bundled_model_gives_the_same_map_on_both_backends_and_any_tiling(naip, tmp_path, monkeypatch):
    """agri-s2-rgb: 32-px cells, two to a chip's side, each seeing 64 px around it (its receptive field: 141 px),
    in torch and in its ONNX twin (output `cell_logits`). Tiles carry that context, so the map does not depend on
    the tile size (the pixel budget, which differs by backend): the two backends and two budgets give the same."""
    runners = {b: LocalRunner(load_predictor("agri-s2-rgb", device="cpu", backend=b)) for b in ("torch", "onnx")}
    assert [r.predictor.cells for r in runners.values()] == [CellGeometry(32, 64)] * 2
    maps = [run(naip, r, tmp_path, name, stride=16, fully_convolutional=True) for name, r in runners.items()]
    monkeypatch.setattr(dense_chips, "TILE_PIXELS", 200 * 200)  # tiles of one or two chip columns, not 22
    runners["onnx"].pixels_per_call = 200 * 200
    maps.append(run(naip, runners["onnx"], tmp_path, "small_tiles", stride=16, fully_convolutional=True))
    (a, pa) = maps[0]
    assert 0.2 < (a == 1).mean() < 0.8
    for b, pb in maps[1:]:
        np.testing.assert_allclose(pa, pb, rtol=0, atol=1e-4)
        close = np.abs(pa[1] - 0.5) < 1e-4  # a class decided by float rounding may differ
        assert np.array_equal(a[~close], b[~close]) and close.mean() < 0.01


def test_export_writes_the_cell_output(chip_model, tmp_path):
    """A compact_cnn exported to ONNX has `cell_logits` (4-px cells: two 2 x 2 pools) and runs fully
    convolutionally on ONNX Runtime as on torch."""
    out = tmp_path / "chips.onnx"
    assert CliRunner().invoke(main, ["export", str(chip_model), "-o", str(out)]).exit_code == 0
    onnx, torch_ = (load_predictor(str(p), device="cpu") for p in (out, chip_model))
    assert onnx.cells == torch_.cells and onnx.cells.size == 4
    batch = np.random.default_rng(0).integers(0, 255, (2, 3, 72, 40)).astype(np.uint8)
    np.testing.assert_allclose(onnx.cell_logits(batch), torch_.cell_logits(batch), rtol=0, atol=1e-4)
    assert onnx.cell_logits(batch).shape == (2, 2, 18, 10)


def test_models_without_a_pooling_head_have_no_cells():
    """Nor those whose head does more than pool and one linear layer (timm's MobileNetV3: pool, conv, activation,
    linear), found by checking the form against the model's logits."""
    from geoclassify.models.factory import create_model

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 62 * 62, 2))
    assert cell_logits(model, 3, 64) is None
    assert cell_logits(create_model("timm:mobilenetv3_small_050", 3, 2).eval(), 3, 64) is None
    assert cell_logits(create_model("compact_cnn", 3, 2).eval(), 3, 64) is not None
    assert cell_side(64, 3, 7) is None and cell_side(64, 2, 4) == 32


def test_phases_cover_every_chip_once():
    for count in (1, 7, 40):
        for stride in (1, 5, 8, 12, 24, 64):
            chips = sorted(i for phase in axis_phases(count, stride, 16) for i in phase)
            assert chips == list(range(count))
            for phase in axis_phases(count, stride, 16):
                assert len({i * stride % 16 for i in phase}) == 1


def test_cli_refuses_what_cannot_run_fully_convolutionally(naip, tmp_path):
    """A segmentation model: a usage error; a chip classifier without cells (aerial-scenes resizes its chips inside
    the model): one line, exit 1, nothing written."""
    cli = CliRunner()
    seg = cli.invoke(main, ["predict", str(naip), "-o", str(tmp_path / "a.tif"), "-m", "aerial-landcover",
                            "--fully-convolutional"])
    assert seg.exit_code == 2 and "applies to chip classifiers" in seg.output
    scenes = cli.invoke(main, ["-q", "predict", str(naip), "-o", str(tmp_path / "b.tif"), "-m", "aerial-scenes",
                               "--fully-convolutional"])
    assert scenes.exit_code == 1 and "global average pooling" in scenes.output
    assert list(tmp_path.iterdir()) == []


def test_a_timm_classifier_has_cells(tmp_path):
    """timm's average-pooling classifiers (here ResNet-18: 32-px cells) run fully convolutionally too."""
    from geoclassify.models.factory import create_model

    torch.manual_seed(0)
    card = make_card(architecture="timm:resnet18", tile_size=64)
    predictor = TorchPredictor(create_model("timm:resnet18", 3, 2), card, device="cpu")
    assert predictor.cells is not None and predictor.cells.size == 32
    batch = np.random.default_rng(1).integers(0, 255, (1, 3, 64, 64)).astype(np.uint8)
    chip_logits = np.log(predictor.predict(batch))
    cells = predictor.cell_logits(batch).mean(axis=(2, 3))  # one chip: the mean of its cells is its logits
    np.testing.assert_allclose(cells - cells.mean(), chip_logits - chip_logits.mean(), atol=1e-4)
