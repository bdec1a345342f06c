import pytest

from geoclassify.models.bundled import BUNDLED, bundled_path
from geoclassify.models.files import read_model_card
from geoclassify.training.sources import PALETTE, palette_colour


def test_default_class_colours_are_distinct_for_every_class_count():
    colours = [palette_colour(i) for i in range(255)]
    assert colours[:len(PALETTE)] == PALETTE
    assert len(set(colours)) == 255
    assert all(0 <= c <= 255 for rgb in colours for c in rgb)


@pytest.mark.parametrize("name", list(BUNDLED))
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_every_bundled_model_gives_each_class_its_own_colour(name, backend):
    card = read_model_card(bundled_path(name, backend))
    assert len(set(card.class_colors)) == card.num_classes
