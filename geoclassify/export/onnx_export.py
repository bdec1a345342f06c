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
    model.eval()
    example = torch.randn(2, card.in_channels, card.tile_size, card.tile_size)
    dense = (chip_and_cell_logits(model, card.in_channels, card.tile_size) if card.task == "classification"
             else None)
    if dense is not None:  # a fully convolutional head: per-cell logits of any tile size as well
        try:
            return _export(dense, example, {0: dynamic, 2: dynamic, 3: dynamic}, ["logits", CELL_OUTPUT],
                           card.architecture), example
        except ExportError as exc:
            log.info("%s; exported without the cell_logits output (predict --fully-convolutional needs it)", exc)
    return _export(model, example, axes, ["logits"], card.architecture), example


def _export(model, example, axes: dict, outputs: list[str], architecture: str):
    """Torch's dynamo export of `model` traced with `example` (the ModelProto); ExportError where it fails."""
    import torch

    try:
        program = torch.onnx.export(model, (example,), dynamo=True, input_names=["image"], output_names=outputs,
                                    dynamic_shapes=(axes,), opset_version=OPSET, external_data=False, verbose=False)
    except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds of errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"architecture {architecture!r} could not be exported to ONNX: {first}") from None
    if program is None:  # only the legacy exporter (dynamo=False) returns nothing
        raise ExportError(f"architecture {architecture!r}: torch's ONNX exporter returned no program")
    return program.model_proto


def check_agreement(model, example, output: Path) -> float:
    """Largest absolute difference between torch and ONNX Runtime logits on the example batch, and of the cell
    logits on a tile two chips wide where the file has them."""
    import torch

    from geoclassify.models.dense import cell_logits
    from geoclassify.models.onnx_file import open_session

    session = open_session(output)
    name = session.get_inputs()[0].name
    with torch.inference_mode():
        expected = model(example).numpy()  # the chip logits: the first output
    diff = float(np.abs(session.run(["logits"], {name: example.numpy()})[0] - expected).max())
    if CELL_OUTPUT in {o.name for o in session.get_outputs()}:
        bands, chip = example.shape[1], example.shape[-1]
        dense = cell_logits(model, bands, chip)
        tile = torch.randn(1, bands, chip, 2 * chip)
        if dense is None:
            raise ExportError("the ONNX file has cell logits but the model has no fully convolutional form")
        with torch.inference_mode():
            cells = dense(tile).numpy()
        diff = max(diff, float(np.abs(session.run([CELL_OUTPUT], {name: tile.numpy()})[0] - cells).max()))
    return diff


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
