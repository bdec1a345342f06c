import json

import pytest
import torch
from safetensors.torch import save_file

from geoclassify.errors import InputError, ModelFileError
from geoclassify.models.card import ModelCard
from geoclassify.models.files import default_model_path, load_model, read_card, save_model
from geoclassify.models.registry import create_model, list_models

from ..conftest import make_card


def test_round_trip_keeps_card_and_weights(tmp_path):
    torch.manual_seed(3)
    model = create_model("tiny_fcn", 3, 3)
    card = make_card(architecture="tiny_fcn", task="segmentation", class_names=("a", "b", "c"),
                     class_colors=((1, 2, 3), (4, 5, 6), (7, 8, 9)), receptive_margin=4, provenance={"run": "x"})
    path = tmp_path / "m.safetensors"
    save_model(model, card, path)
    loaded, card2 = load_model(path)
    assert card2 == card and read_card(path) == card
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
        read_card(tmp_path / "nope.safetensors")


def test_card_validation():
    with pytest.raises(ModelFileError, match="task"):
        make_card(task="detection")
    with pytest.raises(ModelFileError, match="colours"):
        make_card(class_colors=((0, 0, 0),))
    with pytest.raises(ModelFileError, match="malformed|incomplete"):
        ModelCard.from_json(json.dumps({"architecture": "x"}))


def test_registry_lists_builtins():
    names = {m.name for m in list_models()}
    assert {"compact_cnn", "tiny_fcn"} <= names
    with pytest.raises(ModelFileError, match="unknown architecture"):
        create_model("nope", 3, 2)


def test_default_model_card():
    card = read_card(default_model_path())
    assert card.class_names == ("non_agricultural", "agricultural")
    assert card.gsd == 10.0 and card.bands == (1, 2, 3) and card.task == "classification"
    assert default_model_path().stat().st_size < 8_000_000
