"""ONNX Runtime backend: runs exported (or foreign) ONNX models without torch.

An ONNX file written by `geoclassify export` holds the model card as JSON in its metadata
(key `geoclassify_card`); its graph takes normalised float32 NCHW input and returns logits.
A foreign ONNX file runs only with an explicit card (`--card card.json`), under the same contract.
Opening the file and reading its card: `geoclassify.models.onnx_file`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geoclassify.errors import ModelFileError
from geoclassify.inference.batching import pixels_per_call
from geoclassify.inference.dense_chips import CellGeometry, CellLogitsMixin, measure_cells
from geoclassify.models.onnx_file import CELL_OUTPUT, card_from_metadata, open_session


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the class axis (1), in float32.

    Args:
        logits: (n, classes, ...) logits.

    Returns:
        Probabilities of the same shape, float32.
    """
    z = logits.astype(np.float32) - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    return z / z.sum(axis=1, keepdims=True)


class OnnxPredictor(CellLogitsMixin):
    """Normalises raw pixels with the card, runs the ONNX graph and turns logits into probabilities."""

    def __init__(self, path: str | Path, device: str = "auto", card_path: str | None = None,
                 threads: int | None = None) -> None:
        """Open an ONNX model file.

        Args:
            path: the ONNX file.
            device: "auto", "cpu" or "cuda".
            card_path: a card JSON file for an ONNX model that carries none (it wins over an embedded card).
            threads: ONNX Runtime's intra-op threads (None: its default).

        Raises:
            InputError: the model file or the card file is missing.
            ModelFileError: the file is not a readable ONNX model, carries no card (and none was given), has
                more than one input, or takes another number of bands than its card lists.
            ConfigError: `device` is invalid or unavailable.
            GeoclassifyError: onnxruntime is not installed.
        """
        self.path = Path(path)
        self.source: dict | None = None  # the files it was loaded from (set by load_predictor)
        self.session = open_session(self.path, device, threads)
        self.card = card_from_metadata(self.session.get_modelmeta().custom_metadata_map, self.path, card_path)
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelFileError(f"{self.path} has {len(inputs)} inputs; geoclassify runs models with one image input")
        self.input_name = inputs[0].name
        channels = inputs[0].shape[1] if len(inputs[0].shape) == 4 else None
        if isinstance(channels, int) and channels != self.card.in_channels:
            raise ModelFileError(f"{self.path} takes {channels} bands but its card lists {self.card.in_channels}; "
                                 "give a card whose bands match the model")
        shape = (1, self.card.in_channels, 1, 1)
        self.mean = np.asarray(self.card.mean, np.float32).reshape(shape)
        self.std = np.asarray(self.card.std, np.float32).reshape(shape)
        on_gpu = self.session.get_providers()[0] == "CUDAExecutionProvider"
        self.pixels_per_call = pixels_per_call("onnx", "cuda" if on_gpu else "cpu")
        self.output_name = self.session.get_outputs()[0].name

    def _measure_cells(self) -> CellGeometry | None:
        """The cells of the graph's `cell_logits` output (per-cell logits of any tile size: written by `geoclassify
        export` for a fully convolutional head), or None without it."""
        if self.card.task != "classification" or CELL_OUTPUT not in {o.name for o in self.session.get_outputs()}:
            return None
        try:
            return measure_cells(self._cells, self.card.mean, self.card.std, self.card.tile_size)
        except Exception:  # noqa: BLE001 - ONNX Runtime refuses other tile sizes: no fully convolutional form
            return None

    def _cells(self, batch: np.ndarray) -> np.ndarray:
        (cells,) = self.session.run([CELL_OUTPUT], {self.input_name: self._normalised(batch)})
        return cells.astype(np.float32, copy=False)

    def _normalised(self, batch: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((batch.astype(np.float32) - self.mean) / self.std)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """(n, bands, h, w) raw pixels -> (n, classes) or (n, classes, h, w) probabilities, float32.

        Raises:
            ModelFileError: the graph returns another number of classes than the card lists.
        """
        (logits,) = self.session.run([self.output_name], {self.input_name: self._normalised(batch)})
        if logits.shape[1] != self.card.num_classes:
            raise ModelFileError(f"{self.path} returns {logits.shape[1]} classes but its card lists "
                                 f"{self.card.num_classes}; give a card whose classes match the model")
        return softmax(logits)
