"""ONNX model files: opening one with ONNX Runtime, reading and writing its model card (torch is never imported
here).

An ONNX file written by `geoclassify export` holds the model card as JSON in its metadata (key `geoclassify_card`).
A foreign ONNX file has none; it runs only with an explicit card file (`--card card.json`).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, BinaryIO, Iterator, Mapping

from geoclassify.errors import ConfigError, InputError, ModelFileError
from geoclassify.io.atomic import atomic_target
from geoclassify.models.card import CARD_KEY, ModelCard
from geoclassify.optional import CORE, require

if TYPE_CHECKING:
    import onnxruntime

GRAPH_NOTE = "input: normalised float32 NCHW ((pixel - mean) / std from the card); output: logits"
CELL_OUTPUT = "cell_logits"  # a chip classifier's second output, any tile size: logits of each feature cell


def import_onnxruntime() -> ModuleType:
    """onnxruntime, imported on first use.

    Returns:
        The onnxruntime module.

    Raises:
        GeoclassifyError: onnxruntime is not installed; the message names the extra that installs it.
    """
    return require("onnxruntime", CORE, "ONNX models")


def providers_for(device: str) -> list[str]:
    """ONNX Runtime execution providers for --device auto|cpu|cuda.

    Args:
        device: "auto" (CUDA when this onnxruntime has it), "cpu" or "cuda".

    Returns:
        The providers, in order of preference.

    Raises:
        ConfigError: `device` is not one of the three, or is "cuda" and this onnxruntime has no CUDA provider.
        GeoclassifyError: onnxruntime is not installed.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda, not {device!r}")
    available = import_onnxruntime().get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise ConfigError("--device cuda was asked for, but this onnxruntime has no CUDA provider; use --device "
                          "cpu, or install onnxruntime-gpu, or run a bundled model on torch: pip install "
                          "'geoclassify[torch]'")
    if device != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def open_session(path: str | os.PathLike[str], device: str = "cpu", threads: int | None = None,
                 optimize: bool = True) -> "onnxruntime.InferenceSession":
    """An InferenceSession for a model file, with file errors turned into one clear line.

    Args:
        path: the ONNX file.
        device: "auto", "cpu" or "cuda" (see `providers_for`).
        threads: ONNX Runtime's intra-op threads (None: its default).
        optimize: optimise the graph (False for a session that only reads the metadata: 2-4x faster to open).

    Returns:
        The session.

    Raises:
        InputError: the file does not exist.
        ModelFileError: ONNX Runtime cannot read the file.
        ConfigError: `device` is invalid or unavailable.
        GeoclassifyError: onnxruntime is not installed.
    """
    ort = import_onnxruntime()
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model file not found: {path}")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    providers = providers_for(device)
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"{path} is not a readable ONNX model: {first}") from None


def card_from_metadata(metadata: Mapping[str, str], path: str | os.PathLike[str],
                       card_path: str | None = None) -> ModelCard:
    """The card embedded by `geoclassify export`, or the one given with --card (which wins).

    Args:
        metadata: the ONNX file's metadata (`metadata_props`, or a session's custom metadata map).
        path: the ONNX file (for messages).
        card_path: a card JSON file to use instead of the embedded card.

    Returns:
        The card.

    Raises:
        InputError: `card_path` cannot be read.
        ModelFileError: the file carries no card and none was given, or the card is malformed.
    """
    if card_path is not None:
        try:
            return ModelCard.from_json(Path(card_path).read_text())
        except OSError:
            raise InputError(f"card file not found or unreadable: {card_path}") from None
    embedded = metadata.get(CARD_KEY)
    if embedded is None:
        raise ModelFileError(f"{path} is an ONNX model that geoclassify did not export (no model card); "
                             "run it with --card card.json (see `geoclassify info --json MODEL` for the format)")
    return ModelCard.from_json(embedded)


def read_onnx_card(path: str | os.PathLike[str], card_path: str | None = None) -> ModelCard:
    """The model card of an ONNX model file, or the one in `card_path` (which wins).

    Args:
        path: the ONNX file.
        card_path: a card JSON file for an ONNX model that carries none.

    Returns:
        The card.

    Raises:
        InputError: the model file or the card file cannot be found or read.
        ModelFileError: ONNX Runtime cannot read the file, or it carries no card and none was given.
        GeoclassifyError: onnxruntime is not installed.
    """
    metadata = metadata_props(path)
    if metadata is None:  # not a model file this reader follows: ONNX Runtime says what is wrong with it
        metadata = open_session(path, optimize=False).get_modelmeta().custom_metadata_map
    return card_from_metadata(metadata, path, card_path)


def _varint(f: BinaryIO) -> int:
    value = 0
    for shift in range(0, 70, 7):  # a varint has at most 10 bytes
        byte = f.read(1)
        if not byte:
            raise ValueError("truncated varint")
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
    raise ValueError("varint longer than 10 bytes")


def _fields(f: BinaryIO, end: int, read: tuple[int, ...]) -> Iterator[tuple[int, bytes | None]]:
    """(field number, bytes) of each field of the protobuf message in `f` up to offset `end`: the bytes of the
    length-delimited fields numbered in `read`, None for the others (skipped).

    Raises:
        ValueError: the bytes are not a protobuf message.
    """
    while f.tell() < end:
        tag = _varint(f)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            _varint(f)
        elif wire in (1, 5):
            if f.seek(8 if wire == 1 else 4, os.SEEK_CUR) > end:
                raise ValueError("a field runs past the message")
        elif wire == 2:
            length = _varint(f)
            if f.tell() + length > end:
                raise ValueError("a field runs past the message")
            if number in read:
                yield number, f.read(length)
                continue
            f.seek(length, os.SEEK_CUR)
        else:
            raise ValueError(f"wire type {wire}")
        yield number, None


def metadata_props(path: str | os.PathLike[str]) -> dict[str, str] | None:
    """An ONNX file's metadata (ModelProto field 14: key -> value), read from the protobuf wire format without
    parsing the graph (its bytes are skipped). An ONNX Runtime session opened only to read the card took 20-40 ms
    for a 15 MB model: most of what a small scene's prediction lost to GeoDeep (benchmarks/RESULTS.md, "Start-up
    after the peers"); the `onnx` package, which reads it too, is not in the core install.

    Args:
        path: the ONNX file.

    Returns:
        The metadata; None where the file is not a model this reader can follow (no graph, or not protobuf).

    Raises:
        InputError: the file does not exist or cannot be read.
    """
    metadata, seen = {}, set()
    try:
        with open(path, "rb") as f:
            end = f.seek(0, os.SEEK_END)
            f.seek(0)
            for number, value in _fields(f, end, read=(14,)):
                seen.add(number)
                if value is not None:
                    entry = dict(_fields(io.BytesIO(value), len(value), read=(1, 2)))
                    metadata[(entry.get(1) or b"").decode()] = (entry.get(2) or b"").decode()
    except OSError as exc:
        reason = "not found" if isinstance(exc, FileNotFoundError) else "cannot be read"
        raise InputError(f"model file {reason}: {path} ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError):
        return None
    return metadata if {1, 7} <= seen else None  # ir_version and graph: an ONNX model


def import_onnx() -> ModuleType:
    """The onnx package.

    Returns:
        The imported `onnx` module.

    Raises:
        GeoclassifyError: onnx is not installed (the message names the quantize extra, which installs it).
    """
    return require("onnx", "quantize", "ONNX export and quantization")


def save_with_card(model_proto, card: ModelCard, output: Path) -> None:
    """Put the card (and a note on the graph's contract) into the ONNX metadata and write atomically."""
    onnx = import_onnx()
    meta = {p.key: p.value for p in model_proto.metadata_props}
    meta.update({CARD_KEY: card.to_json(), "geoclassify_graph": GRAPH_NOTE})
    del model_proto.metadata_props[:]
    onnx.helper.set_model_props(model_proto, meta)
    with atomic_target(output) as tmp:
        onnx.save(model_proto, str(tmp))
