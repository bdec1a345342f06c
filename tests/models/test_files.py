"""Model files: the format from the suffix, the card of every format, torch models saved and loaded."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from geoclassify.errors import ConfigError, InputError, ModelFileError
from geoclassify.models.card import CARD_KEY, ModelCard
from geoclassify.models.factory import create_model
from geoclassify.models.files import default_model_path, is_onnx, load_model, model_format, read_model_card, save_model
from geoclassify.models.keras_file import add_card

from ..conftest import make_card


def test_round_trip_keeps_card_and_weights(tmp_path):
    torch.manual_seed(3)
    model = create_model("tiny_fcn", 3, 3)
    card = make_card(architecture="tiny_fcn", task="segmentation", class_names=("a", "b", "c"),
                     class_colors=((1, 2, 3), (4, 5, 6), (7, 8, 9)), receptive_margin=4, provenance={"run": "x"})
    path = tmp_path / "m.safetensors"
    save_model(model, card, path)
    loaded, card2 = load_model(path)
    assert card2 == card and read_model_card(path) == card
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(loaded(x), model.eval()(x))
    assert list(tmp_path.iterdir()) == [path]


def test_plain_safetensors_without_card_is_refused(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ModelFileError, match="no geoclassify model card"):
        load_model(path)


@pytest.mark.parametrize("content", [b"", b"hello world, not a model", b"\xff" * 64])
def test_garbage_is_not_a_model(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="not a geoclassify model"):
        load_model(path)


def test_truncated_model_is_reported_damaged(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(create_model("tiny_fcn", 3, 2), make_card(architecture="tiny_fcn", task="segmentation"), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(ModelFileError, match="damaged"):
        load_model(path)


def test_card_mismatched_with_weights_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(create_model("tiny_fcn", 3, 2), make_card(architecture="compact_cnn"), path)
    with pytest.raises(ModelFileError, match="do not match"):
        load_model(path)


def test_missing_model_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_model_card(tmp_path / "nope.safetensors")


def test_card_validation():
    with pytest.raises(ModelFileError, match="task"):
        make_card(task="detection")
    with pytest.raises(ModelFileError, match="colours"):
        make_card(class_colors=((0, 0, 0),))
    with pytest.raises(ModelFileError, match="malformed|incomplete"):
        ModelCard.from_json(json.dumps({"architecture": "x"}))


def test_default_model_card():
    card = read_model_card(default_model_path())
    assert card.class_names == ("non_agricultural", "agricultural")
    assert card.gsd == 10.0 and card.bands == (1, 2, 3) and card.task == "classification"
    assert card.band_names == ("red", "green", "blue")
    assert (card.reflectance_scale, card.value_range) == (255 / 0.2, (0.0, 255.0))  # Sentinel-2 L2A TCI
    assert card.input_values().startswith("surface reflectance x 1275, clipped to 0-255")
    assert default_model_path().stat().st_size < 8_000_000


def test_input_values_round_trip_and_are_checked():
    card = make_card(band_names=("red", "green", "blue"), reflectance_scale=1.0, value_range=(0.0, 1.0),
                     radiometry="surface reflectance")
    back = ModelCard.from_json(card.to_json())
    assert back == card and back.value_range == (0.0, 1.0)
    assert "input values: surface reflectance, clipped to 0-1 (surface reflectance)" in back.describe()
    assert "input values: the scene's raw uint8 values, as they are" in make_card().describe()
    old = json.loads(make_card().to_json())
    for key in ("reflectance_scale", "value_range", "radiometry"):
        del old[key]
    assert ModelCard.from_json(json.dumps(old)).reflectance_scale is None  # a card from before: raw values
    with pytest.raises(ModelFileError, match="names 2 bands but lists 3"):
        make_card(band_names=("red", "green"))
    with pytest.raises(ModelFileError, match="reflectance_scale must be positive"):
        make_card(reflectance_scale=0.0)
    with pytest.raises(ModelFileError, match="value_range"):
        make_card(value_range=(1.0, 0.0))


@pytest.mark.parametrize("name, fmt", [("m.safetensors", "safetensors"), ("m.onnx", "onnx"), ("best.keras", "keras"),
                                       ("M.SafeTensors", "safetensors"), ("m.int8.onnx", "onnx"),
                                       ("dir/M.KERAS", "keras")])
def test_format_follows_the_suffix(name, fmt):
    assert model_format(name) == fmt and model_format(Path(name)) == fmt
    assert is_onnx(name) == (fmt == "onnx")


@pytest.mark.parametrize("name", ["model.pt", "model", "model.safetensors.bak", "card.json"])
def test_unknown_suffix_is_refused(name):
    with pytest.raises(ModelFileError, match="not a model file geoclassify knows.*.safetensors.*.onnx.*.keras"):
        model_format(name)
    with pytest.raises(ModelFileError, match="not a model file geoclassify knows"):
        read_model_card(name)
    assert not is_onnx(name)


def keras_file(path: Path, card: ModelCard | None) -> Path:
    """A stand-in for a `.keras` zip (Keras's own members are not read), with the card added as Keras training does."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
    if card is not None:
        add_card(path, card)
    return path


def onnx_file(path: Path, card: ModelCard | None) -> Path:
    """A one-node ONNX graph (identity), with the card in its metadata as `geoclassify export` writes it."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2, "h", "w"])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    if card is not None:
        helper.set_model_props(model, {CARD_KEY: card.to_json()})
    onnx.save(model, str(path))
    return path


def test_card_of_each_format(tmp_path, chip_model):
    card = make_card(provenance={"run": "x"})
    assert read_model_card(keras_file(tmp_path / "best.keras", card)) == card
    assert read_model_card(onnx_file(tmp_path / "m.onnx", card)) == card
    assert read_model_card(str(chip_model)) == read_model_card(chip_model) == make_card(arch_kwargs={"widths": [8, 16]})


def test_card_file_is_for_onnx_only(tmp_path, chip_model):
    card = make_card(class_names=("x", "y"))
    card_file = tmp_path / "card.json"
    card_file.write_text(card.to_json())
    assert read_model_card(onnx_file(tmp_path / "m.onnx", make_card()), card_file) == card
    for model in (chip_model, keras_file(tmp_path / "best.keras", card)):
        with pytest.raises(ConfigError, match="applies to ONNX models only"):
            read_model_card(model, card_file)


def test_files_without_a_card(tmp_path):
    with pytest.raises(ModelFileError, match="Keras model without a geoclassify card"):
        read_model_card(keras_file(tmp_path / "plain.keras", None))
    with pytest.raises(ModelFileError, match="did not export .*--card"):
        read_model_card(onnx_file(tmp_path / "foreign.onnx", None))
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(ModelFileError, match="no geoclassify model card"):
        read_model_card(plain)


@pytest.mark.parametrize("name, message", [("m.safetensors", "not a geoclassify model file, or it is damaged"),
                                           ("m.keras", "not a Keras model file"),
                                           ("m.onnx", "not a readable ONNX model")])
def test_damaged_file_of_each_format(tmp_path, name, message):
    path = tmp_path / name
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\": 1")
    with pytest.raises(ModelFileError, match=message) as error:
        read_model_card(path)
    assert "\n" not in str(error.value)


def test_truncated_safetensors_card_is_refused(tmp_path, chip_model):
    path = tmp_path / "m.safetensors"
    data = chip_model.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(ModelFileError, match="damaged .*incomplete"):
        read_model_card(path)


@pytest.mark.parametrize("name", ["nope.safetensors", "nope.onnx", "nope.keras"])
def test_missing_file_of_each_format(tmp_path, name):
    with pytest.raises(InputError, match="model file not found"):
        read_model_card(tmp_path / name)


def test_only_safetensors_files_load_into_torch(tmp_path):
    for path in (keras_file(tmp_path / "best.keras", make_card()), tmp_path / "m.onnx"):
        with pytest.raises(ModelFileError, match="only .safetensors model files load into torch"):
            load_model(path)


def test_reading_a_card_imports_no_torch(tmp_path):
    keras = keras_file(tmp_path / "best.keras", make_card())
    code = ("import sys\nfrom geoclassify.models.files import default_model_path, read_model_card\n"
            f"read_model_card(default_model_path()); read_model_card({str(keras)!r})\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_onnx_metadata_is_read_without_onnx_runtime_as_onnx_runtime_reads_it(tmp_path):
    """The card of every bundled ONNX model, read from the protobuf's metadata field alone, is the one ONNX Runtime
    reads; bytes that are no ONNX model give None (ONNX Runtime then says why), and so does a truncated model."""
    from geoclassify.models.bundled import BUNDLED, bundled_path
    from geoclassify.models.onnx_file import metadata_props, open_session

    for name in BUNDLED:
        path = bundled_path(name, "onnx")
        expected = dict(open_session(path, optimize=False).get_modelmeta().custom_metadata_map)
        assert metadata_props(path) == expected and CARD_KEY in expected
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(bundled_path("agri-s2-rgb", "onnx").read_bytes()[:-50_000])
    for data in (b"", b"not a model", b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\": 1", b"\x08" + b"\x80" * 100_000,
                 b"\x09\x00"):
        (tmp_path / "bad.onnx").write_bytes(data)
        assert metadata_props(tmp_path / "bad.onnx") is None
    assert metadata_props(truncated) is None
    with pytest.raises(ModelFileError, match="not a readable ONNX model"):
        read_model_card(truncated)
