"""Static post-training INT8 quantization of exported ONNX models (QDQ format), calibrated on real chips.

Weights are signed INT8 per output channel, activations unsigned INT8 with ranges from calibration
on chips of the training split (a config's train split by place, or a chip folder), normalised
exactly as the predictor normalises them. The model card travels along, with the calibration noted.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from geoclassify.errors import ConfigError, ExportError
from geoclassify.io.writer import check_output_path
from geoclassify.models.card import ModelCard, with_provenance
from geoclassify.models.onnx_file import import_onnx, read_onnx_card, save_with_card
from geoclassify.optional import require
from geoclassify.reports.sources import load_chip_arrays, model_chip_set

log = logging.getLogger("geoclassify")

METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}  # CalibrationMethod


def import_quantization() -> ModuleType:
    """The quantization tools of onnxruntime.

    Returns:
        The imported `onnxruntime.quantization` module.

    Raises:
        GeoclassifyError: onnxruntime (or onnx, which it imports) is not installed; the message names the
            quantize extra.
    """
    return require("onnxruntime.quantization", "quantize", "quantization and calibration")


def calibration_batches(calibration: str, card: ModelCard, chips: int, batch: int = 32) -> list[np.ndarray]:
    """Normalised float32 batches of up to `chips` real chips from the train split of `calibration`."""
    chip_set = model_chip_set(calibration, card, "train", f"--calibration {calibration}")
    images, _ = load_chip_arrays(chip_set, card, chips)
    shape = (1, card.in_channels, 1, 1)
    x = (images.astype(np.float32) - np.asarray(card.mean, np.float32).reshape(shape)) / np.asarray(
        card.std, np.float32).reshape(shape)
    log.info("calibrating on %d chips of %s", len(x), chip_set.description)
    return [x[i : i + batch] for i in range(0, len(x), batch)]


def make_reader(input_name: str, batches: list[np.ndarray]):
    """An onnxruntime CalibrationDataReader over the batches."""
    quantization = import_quantization()
    base: Any = quantization.CalibrationDataReader  # onnxruntime is imported at run time: no static type

    class Reader(base):
        def __init__(self):
            self.items = iter(batches)

        def get_next(self):
            batch = next(self.items, None)
            return None if batch is None else {input_name: batch}

    return Reader()


def quantize_onnx(model: str, calibration: str, output: str, chips: int = 512, method: str = "minmax",
                  overwrite: bool = False) -> ModelCard:
    """Write an INT8 QDQ copy of the float ONNX `model`, calibrated on real chips; returns its card."""
    quantization = import_quantization()
    onnx = import_onnx()
    if method not in METHODS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    if chips < 1:
        raise ConfigError(f"--chips must be at least 1, got {chips}")
    out = check_output_path(output, overwrite)
    card = read_onnx_card(model)
    if "quantization" in card.provenance:
        raise ConfigError(f"{model} is already quantized ({card.provenance['quantization']}); quantize the float model")
    batches = calibration_batches(calibration, card, chips)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        prepared, quantized = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        quantization.shape_inference.quant_pre_process(model, str(prepared), skip_symbolic_shape=True)
        input_name = onnx.load(str(prepared), load_external_data=False).graph.input[0].name
        try:
            quantization.quantize_static(
                str(prepared), str(quantized), make_reader(input_name, batches),
                quant_format=quantization.QuantFormat.QDQ, per_channel=True,
                activation_type=quantization.QuantType.QUInt8, weight_type=quantization.QuantType.QInt8,
                calibrate_method=getattr(quantization.CalibrationMethod, METHODS[method]))
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises many kinds of errors
            raise ExportError(f"{model} could not be quantized: {str(exc).strip().splitlines()[0]}") from None
        card = with_provenance(card, quantization=f"int8 static QDQ (u8 activations, s8 per-channel weights), "
                                                  f"{method} calibration on {sum(map(len, batches))} chips "
                                                  f"of {calibration}", quantized_from=str(model))
        save_with_card(onnx.load(str(quantized)), card, out)
    log.info("wrote %s (%.1f MB)", out, out.stat().st_size / 1e6)
    return card
