"""Scenes with label rasters: the shipped Ag-Net tiles with their CDL labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from geoclassify.errors import InputError
from geoclassify.inference.config import PredictConfig, SceneOutputs
from geoclassify.inference.pipeline import predict_scene
from geoclassify.inference.predictor import load_predictor
from geoclassify.inference.runners import LocalRunner
from geoclassify.training.class_mapping import IGNORE, load_class_mapping
from geoclassify.training.config import config_from_dict
from geoclassify.training.scenes import SceneReader, scene_pairs
from geoclassify.training.trainer import train

from .conftest import AGNET, ROOT, TILES, read_tile, write_tif

MAPPING = str(ROOT / "examples" / "cdl_agricultural.yaml")
UTM = CRS.from_epsg(32615)


@pytest.fixture(scope="module")
def agnet_pairs(tmp_path_factory) -> list[dict]:
    folder = tmp_path_factory.mktemp("agnet_scenes")
    pairs = []
    for tile in TILES:
        image = folder / f"lc8_{tile}.tif"
        write_tif(image, read_tile(tile))
        pairs.append({"image": str(image), "labels": str(AGNET / "target" / f"cdl_2015245_{tile}.tif")})
    return pairs


def scene_config(pairs, arch="tiny_fcn", tile=32, **model_kwargs) -> dict:
    return {
        "data": {"source": "scene", "scenes": pairs, "class_mapping": MAPPING, "tile_size": tile, "block_size": 64,
                 "windows_per_epoch": 48, "val_fraction": 0.25, "test_fraction": 0.25, "min_labelled": 0.5},
        "model": {"arch": arch, "kwargs": model_kwargs},
        "optim": {"epochs": 1, "batch_size": 8, "early_stopping": None},
        "loader": {"workers": 0},
        "device": "cpu",
    }


@pytest.mark.parametrize("arch,tile,kwargs", [("tiny_fcn", 32, {}), ("unet:resnet18", 32, {}),
                                              ("unet_swin_t", 64, {"img_size": 64, "window_size": 2})])
def test_segmentation_trains_and_predicts(arch, tile, kwargs, agnet_pairs, agnet_scene, tmp_path):
    result = train(config_from_dict(scene_config(agnet_pairs, arch, tile, **kwargs)), str(tmp_path / "run"))
    test = result["test"]
    assert 0 <= test["accuracy"] <= 1 and "iou_agricultural" in test and "miou" in test
    predictor = load_predictor(str(tmp_path / "run" / "best.safetensors"), "cpu")
    assert predictor.card.task == "segmentation" and predictor.card.tile_size == tile
    out = tmp_path / "seg.tif"
    predict_scene(str(agnet_scene), SceneOutputs(out), LocalRunner(predictor), PredictConfig())
    with rasterio.open(out) as ds:
        assert ds.shape == (128, 128) and set(np.unique(ds.read(1))) <= {0, 1}
        assert json.loads(ds.tags(1)["CLASS_NAMES"]) == ["non_agricultural", "agricultural"]


def test_segmentation_learns_crop_vs_non_crop(agnet_pairs, tmp_path):
    values = scene_config(agnet_pairs)
    values["optim"].update(epochs=10, lr=0.01)
    values["data"]["windows_per_epoch"] = 96
    train(config_from_dict(values), str(tmp_path / "run"))
    history = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert history[-1]["train_loss"] < 0.8 * history[0]["train_loss"]
    assert max(row["val_accuracy"] for row in history) > 0.6


def georeferenced(path, data, res, crs=UTM, origin=(500_000.0, 4_600_000.0)):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=data.dtype, crs=crs, transform=Affine(res, 0, origin[0], 0, -res, origin[1])) as dst:
        dst.write(data)
    return str(path)


def test_label_raster_on_another_grid_is_warped_onto_the_scene(tmp_path):
    codes = rasterio.open(AGNET / "target" / "cdl_2015245_10_12.tif").read(1)
    image = georeferenced(tmp_path / "image.tif", read_tile("10_12"), 30.0)
    coarse = codes[::2, ::2][None]  # 60 m labels over the same extent
    labels = georeferenced(tmp_path / "labels.tif", coarse, 60.0)
    data = config_from_dict({"data": {"source": "scene", "class_mapping": MAPPING,
                                      "scenes": [{"image": image, "labels": labels}]}}).data
    mapping = load_class_mapping(MAPPING)
    reader = SceneReader(scene_pairs(data), [], mapping)
    _, classes = reader.read(0, 0, 0, 128)
    expected = mapping.apply(np.repeat(np.repeat(coarse[0], 2, 0), 2, 1))
    assert np.array_equal(classes, expected)


def test_label_raster_elsewhere_is_refused(tmp_path):
    image = georeferenced(tmp_path / "image.tif", read_tile("10_12"), 30.0)
    labels = georeferenced(tmp_path / "labels.tif", np.ones((1, 64, 64), np.uint8), 30.0,
                           origin=(700_000.0, 4_000_000.0))
    with pytest.raises(InputError, match="does not overlap"):
        scene_pairs(config_from_dict({"data": {"source": "scene", "class_mapping": MAPPING,
                                               "scenes": [{"image": image, "labels": labels}]}}).data)


def test_label_codes_missing_from_the_mapping_are_named(tmp_path, agnet_pairs):
    partial = tmp_path / "partial.yaml"
    partial.write_text("classes:\n  corn: [1]\n  soy: [5]\nnodata: [0]\n")
    values = scene_config(agnet_pairs)
    values["data"]["class_mapping"] = str(partial)
    with pytest.raises(InputError, match=r"label values \[.*\] are missing from the class mapping"):
        train(config_from_dict(values), str(tmp_path / "run"))
    assert IGNORE == 255


@pytest.fixture(scope="module")
def polygon_scene(tmp_path_factory):
    """A georeferenced Ag-Net tile and its CDL classes as polygons (class names in attribute 'landuse')."""
    import geopandas
    from rasterio.features import shapes
    from shapely.geometry import shape

    folder = tmp_path_factory.mktemp("polygons")
    image = georeferenced(folder / "image.tif", read_tile("11_14"), 30.0)
    mapping = load_class_mapping(MAPPING)
    classes = mapping.apply(rasterio.open(AGNET / "target" / "cdl_2015245_11_14.tif").read(1))
    with rasterio.open(image) as ds:
        transform = ds.transform
    names = {1: "agricultural", 2: "wetland_or_other"}
    coded = np.where(classes == 1, 1, np.where(classes == 0, 2, 0)).astype(np.uint8)
    records = [{"geometry": shape(geom), "landuse": names[int(v)]}
               for geom, v in shapes(coded, mask=coded > 0, transform=transform)]
    path = folder / "labels.gpkg"
    geopandas.GeoDataFrame(records, crs=UTM).to_file(path)
    return image, str(path), coded


def polygon_config(image, polygons, **data) -> dict:
    return {"data": {"source": "scene", "scenes": [{"image": image, "polygons": polygons}], "tile_size": 32,
                     "block_size": 32, "polygon_classes": ["other", "agricultural", "wetland_or_other"],
                     "class_field": "landuse", "windows_per_epoch": 24, "val_fraction": 0.25,
                     "test_fraction": 0.25, **data},
            "model": {"arch": "tiny_fcn"}, "optim": {"epochs": 1, "batch_size": 8, "early_stopping": None},
            "loader": {"workers": 0}, "device": "cpu"}


def test_polygons_rasterize_back_to_the_label_raster(polygon_scene):
    from geoclassify.training.scenes import scene_mapping

    image, polygons, coded = polygon_scene
    data = config_from_dict(polygon_config(image, polygons)).data
    reader = SceneReader(scene_pairs(data), [], scene_mapping(data), data)
    _, whole = reader.read(0, 0, 0, 128)
    assert np.array_equal(whole, coded)
    _, part = reader.read(0, 40, 70, 32)
    assert np.array_equal(part, coded[40:72, 70:102])


def test_training_from_polygons(polygon_scene, tmp_path):
    image, polygons, _ = polygon_scene
    result = train(config_from_dict(polygon_config(image, polygons)), str(tmp_path / "run"))
    assert "iou_agricultural" in result["test"]
    card = load_predictor(str(tmp_path / "run" / "best.safetensors"), "cpu").card
    assert card.class_names == ("other", "agricultural", "wetland_or_other")


def test_polygon_classes_not_configured_are_named(polygon_scene, tmp_path):
    image, polygons, _ = polygon_scene
    values = polygon_config(image, polygons, polygon_classes=["other", "agricultural"])
    with pytest.raises(InputError, match=r"classes \['wetland_or_other'\]"):
        train(config_from_dict(values), str(tmp_path / "run"))


AGRI, OTHER, NONE = (230, 180, 40), (200, 200, 200), (0, 0, 0)


@pytest.fixture(scope="module")
def mask_pair(tmp_path_factory):
    """An Ag-Net tile as a plain RGB PNG (no georeferencing) and its CDL classes as a colour-mask PNG."""
    folder = tmp_path_factory.mktemp("masks")
    tile = read_tile("12_14")
    classes = load_class_mapping(MAPPING).apply(rasterio.open(AGNET / "target" / "cdl_2015245_12_14.tif").read(1))
    palette = np.array([OTHER, AGRI] + [NONE] * 253 + [NONE], dtype=np.uint8)
    rgb = palette[classes].transpose(2, 0, 1)
    for name, data in (("image.png", tile[[3, 2, 1]]), ("mask.png", rgb)):
        with rasterio.open(folder / name, "w", driver="PNG", width=128, height=128, count=3, dtype="uint8") as dst:
            dst.write(data)
    return str(folder / "image.png"), str(folder / "mask.png"), classes


def mask_config(image, mask, **data) -> dict:
    return {"data": {"source": "scene", "scenes": [{"image": image, "mask": mask}], "tile_size": 32,
                     "block_size": 32, "mask_colors": {"non_agricultural": list(OTHER), "agricultural": list(AGRI)},
                     "ignore_colors": [list(NONE)], "windows_per_epoch": 24, "val_fraction": 0.25,
                     "test_fraction": 0.25, "min_labelled": 0.3, **data},
            "model": {"arch": "tiny_fcn"}, "optim": {"epochs": 1, "batch_size": 8, "early_stopping": None},
            "loader": {"workers": 0}, "device": "cpu"}


def test_colour_masks_become_classes_and_train(mask_pair, tmp_path):
    from geoclassify.training.scenes import scene_mapping

    image, mask, classes = mask_pair
    data = config_from_dict(mask_config(image, mask)).data
    reader = SceneReader(scene_pairs(data), [], scene_mapping(data), data)
    assert np.array_equal(reader.read(0, 0, 0, 128)[1], classes)
    result = train(config_from_dict(mask_config(image, mask)), str(tmp_path / "run"))
    assert "iou_agricultural" in result["test"]


def test_unknown_mask_colour_is_named(mask_pair, tmp_path):
    image, mask, _ = mask_pair
    values = mask_config(image, mask, mask_colors={"non_agricultural": list(OTHER), "water": [0, 0, 255]})
    with pytest.raises(InputError, match=r"mask colours \[\[230, 180, 40\]\] are not in data.mask_colors"):
        train(config_from_dict(values), str(tmp_path / "run"))


def test_polygons_elsewhere_are_refused(polygon_scene, tmp_path):
    _, polygons, _ = polygon_scene
    far = georeferenced(tmp_path / "far.tif", read_tile("11_14"), 30.0, origin=(200_000.0, 4_000_000.0))
    with pytest.raises(InputError, match="do not overlap"):
        scene_pairs(config_from_dict(polygon_config(far, polygons)).data)


def test_forked_workers_open_their_own_files(agnet_pairs):
    """A DataLoader worker forked after the parent read windows (band statistics) opens the scenes again: files
    opened before the fork share one file offset with the parent and every sibling, and concurrent reads through
    them return other blocks' bytes (GDAL: TIFFReadEncodedTile() failed, on the Dubai scenes with 2 workers)."""
    import multiprocessing

    data = config_from_dict(scene_config(agnet_pairs)).data
    reader = SceneReader(scene_pairs(data), [], load_class_mapping(MAPPING), data)
    expected = [reader.read(scene, 0, 0, 64) for scene in range(len(agnet_pairs))]  # opens every scene here
    queue = multiprocessing.get_context("fork").Queue()

    def child() -> None:
        pixels, classes = reader.read(1, 0, 0, 64)
        queue.put((sorted(reader._open), pixels.tobytes() == expected[1][0].tobytes(),
                   np.array_equal(classes, expected[1][1])))

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    opened, same_pixels, same_classes = queue.get(timeout=60)
    process.join(timeout=60)
    assert opened == [1]  # only the scene it read, opened in the child itself
    assert same_pixels and same_classes
    assert sorted(reader._open) == list(range(len(agnet_pairs)))  # the parent's files stay open, untouched
