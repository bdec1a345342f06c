"""Keras models: ResNet-50 (keras.applications) with a head for any classes and bands; pretrained weights;
FLOPs; the ONNX model file with the card (normalised NCHW float32 in, logits out, as every geoclassify model)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from geoclassify.errors import ConfigError, ExportError, InputError
from geoclassify.io.atomic import atomic_target
from geoclassify.models.card import ModelCard
from geoclassify.models.onnx_file import save_with_card
from geoclassify.training.keras import ARCHITECTURES, check_arch, import_keras

tf, keras = import_keras()
log = logging.getLogger("geoclassify")

OPSET = 18


def card_architecture(arch: str) -> str:
    """The card's architecture name: Keras models are not the timm ones of the same name."""
    return f"keras:{arch}"


def build_model(arch: str, bands: int, classes: int, tile_size: int, pretrained: str | bool = False):
    """`arch` (weights=None) on (tile, tile, bands) NHWC input, global average pooling and a float32 logits layer."""
    check_arch(arch)
    if pretrained is True or str(pretrained).lower() in ("true", "imagenet"):
        raise ConfigError("the Keras trainer cannot download weights; give a local weights file to --pretrained "
                          "(.keras, .weights.h5, or a Keras applications .h5 file)")
    with warnings.catch_warnings():  # "usually expects 1 or 3 input channels": any number of bands is the point
        warnings.simplefilter("ignore", UserWarning)
        base = getattr(keras.applications, ARCHITECTURES[arch])(
            weights=None, include_top=False, input_shape=(tile_size, tile_size, bands), pooling="avg")
    logits = keras.layers.Dense(classes, dtype="float32", name="logits")(base.output)
    model = keras.Model(base.input, logits, name=arch)
    if pretrained:
        load_pretrained(model, str(pretrained))
    return model


def load_pretrained(model, path: str) -> None:
    """Start from a local weights file; layers whose shapes differ (the head, a first conv for other bands) keep
    their random init. `.keras` / `.weights.h5` by structure, legacy `.h5` (Keras applications) by layer name."""
    if not Path(path).is_file():
        raise InputError(f"pretrained weights file not found: {path}")
    before = [w.copy() for w in model.get_weights()]
    options = {"by_name": True} if path.endswith((".h5", ".hdf5")) and not path.endswith(".weights.h5") else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.load_weights(path, skip_mismatch=True, **options)
    except Exception as exc:  # noqa: BLE001 - Keras raises many kinds of errors for foreign files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot load weights from {path}: {first}") from None
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    if changed == 0:
        raise InputError(f"no weights of {path} fit the {model.name} model (different architecture?)")
    log.info("pretrained: %d of %d weight tensors from %s", changed, len(before), path)


def count_flops(model) -> float:
    """Forward GFLOPs of one input (convolutions and dense layers, 1 MAC = 2 FLOPs), as torch's counter counts."""
    macs = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, out = layer.output.shape
            kh, kw, cin, _ = layer.kernel.shape
            macs += h * w * out * kh * kw * cin
        elif isinstance(layer, keras.layers.Dense):
            macs += int(np.prod(layer.kernel.shape))
    return 2 * macs / 1e9


def float32_twin(arch: str, bands: int, classes: int, tile_size: int):
    """An uncompiled float32 model of the same architecture, to write best/last.keras and the ONNX files from
    (no optimizer state in them, and float32 layers even when training in mixed_float16)."""
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        return build_model(arch, bands, classes, tile_size)
    finally:
        keras.config.set_dtype_policy(policy)


def nchw_model(model, card: ModelCard):
    """The model behind a transpose: input `image` (n, bands, h, w), as the predictors feed every model."""
    image = keras.Input((card.in_channels, card.tile_size, card.tile_size), name="image")
    nchw = keras.Model(image, model(keras.layers.Permute((2, 3, 1))(image)), name="geoclassify")
    nchw(np.zeros((1, card.in_channels, card.tile_size, card.tile_size), np.float32))
    return nchw


def export_onnx(model, card: ModelCard, output: Path, example: np.ndarray) -> float:
    """Write a float32 model as an ONNX file carrying `card`; returns the largest |logit difference| to Keras on
    `example` (normalised NHWC images)."""
    import onnx

    from geoclassify.models.onnx_file import open_session

    wrapped = nchw_model(model, card)
    with atomic_target(output, suffix=".onnx") as tmp:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wrapped.export(str(tmp), format="onnx", verbose=False, opset_version=OPSET)
        except Exception as exc:  # noqa: BLE001 - tf2onnx raises many kinds of errors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportError(f"the Keras model could not be exported to ONNX: {first}") from None
        proto = onnx.load(str(tmp))
    rename_output(proto, "logits")
    save_with_card(proto, card, output)
    session = open_session(output)
    nchw = np.ascontiguousarray(example.transpose(0, 3, 1, 2))
    got = session.run(None, {session.get_inputs()[0].name: nchw})[0]
    return float(np.abs(got - model.predict(example, verbose=0)).max())


def rename_output(proto, name: str) -> None:
    """Call the graph's output `name` (tf2onnx names it after a TensorFlow tensor)."""
    old = proto.graph.output[0].name
    for node in proto.graph.node:
        node.output[:] = [name if o == old else o for o in node.output]
    proto.graph.output[0].name = name
