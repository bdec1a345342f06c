"""Export a geoclassify model file to ONNX, with its model card in the ONNX metadata.

The graph takes normalised float32 NCHW input (the card's mean/std are applied by the predictor)
and returns logits; the batch axis is dynamic, and for segmentation models height and width too. A chip
classifier with a fully convolutional form (`geoclassify.models.dense`) has a second output, `cell_logits`, the
logits of each feature cell of any tile size (its input height and width are dynamic).
torch's exporter (torch.export based) writes it; onnxscript must be installed for that.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from geoclassify.errors import ExportError
from geoclassify.io.writer import check_output_path
from geoclassify.models.card import ModelCard, with_provenance
from geoclassify.models.onnx_file import CELL_OUTPUT, save_with_card
from geoclassify.optional import require

log = logging.getLogger("geoclassify")

OPSET = 18


def trace_to_onnx(model, card: ModelCard):
    """The ONNX ModelProto of a torch model, with a dynamic batch (and size, for segmentation) axis.

    Returns:
        The ModelProto and the example batch it was traced with: (2, bands, tile, tile) float32 noise.

    Raises:
        ExportError: torch's exporter fails on the architecture, or returns no program.
        GeoclassifyError: onnxscript, which torch's exporter needs, is not installed.
    """
    import torch

    from geoclassify.models.dense import chip_and_cell_logits

    require("onnxscript", "torch", "ONNX exports of torch models")  # torch's exporter needs it
    dynamic = torch.export.Dim.DYNAMIC
    axes = {0: dynamic, 2: dynamic, 3: dynamic} if card.task == "segmentation" else {0: dynamic}
    outputs = ["logits"]
    dense = chip_and_cell_logits(model) if card.task == "classification" else None
    if dense is not None:  # a fully convolutional head: per-cell logits of any tile size as well
        model, axes, outputs = dense, {0: dynamic, 2: dynamic, 3: dynamic}, ["logits", CELL_OUTPUT]
    example = torch.randn(2, card.in_channels, card.tile_size, card.tile_size)
    try:
        program = torch.onnx.export(model, (example,), dynamo=True, input_names=["image"], output_names=outputs,
                                    dynamic_shapes=(axes,), opset_version=OPSET, external_data=False, verbose=False)
    except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds of errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"architecture {card.architecture!r} could not be exported to ONNX: {first}") from None
    if program is None:  # only the legacy exporter (dynamo=False) returns nothing
        raise ExportError(f"architecture {card.architecture!r}: torch's ONNX exporter returned no program")
    return program.model_proto, example


def check_agreement(model, example, output: Path) -> float:
    """Largest absolute difference between torch and ONNX Runtime logits on the example batch."""
    import torch

    from geoclassify.models.onnx_file import open_session

    with torch.inference_mode():
        expected = model(example).numpy()  # the chip logits: the first output
    session = open_session(output)
    got = session.run(None, {session.get_inputs()[0].name: example.numpy()})[0]
    return float(np.abs(got - expected).max())


def export_onnx(model_path: str, output: str, overwrite: bool = False) -> ModelCard:
    """Write `model_path` (a geoclassify model file) as an ONNX file carrying its card; returns the card."""
    from geoclassify.models.files import load_model

    out = check_output_path(output, overwrite)
    model, card = load_model(model_path)
    card = with_provenance(card, exported_from=str(model_path), format="onnx float32")
    proto, example = trace_to_onnx(model, card)
    save_with_card(proto, card, out)
    diff = check_agreement(model, example, out)
    log.info("wrote %s (%.1f MB); max |logit difference| to torch on a random batch: %.2g", out,
             out.stat().st_size / 1e6, diff)
    return card
