"""A GeoDeep copy of a bundled segmentation model's ONNX file: the same weights, in the form GeoDeep runs.

    .venv/bin/python benchmarks/peers/geodeep_model.py -o /tmp/bench/aerial_landcover_geodeep.onnx

What GeoDeep 0.9 reads (geodeep/inference.py, segmentation.py, detection.py, geodeep.py):
- one input, NCHW, its last dimension a number: the tile size (here 256, the card's tile_size);
- the tile as float32 in 0-1 (uint8 / 255; other dtypes scaled by their range): the card's (pixel - mean) / std
  is folded in front of the graph, x * 255 / std - mean / std;
- the output thresholded (below `seg_thresh` -> 0) then argmax over axis 1: a softmax is added after the logits and
  `seg_thresh` is 0, so the class is the logits' argmax, as in `geoclassify predict`;
- metadata: model_type "Segmentor", class_names {"0": name, ...}, tiles_overlap in percent of the tile (25: 64 px,
  of which GeoDeep drops 32 at each inner tile edge = the card's receptive_margin), resolution in cm/px (the model
  has no GSD and geoclassify keeps the scene's pixels; GeoDeep only downsamples scenes finer than this and never
  upsamples, so 1 cm/px keeps every scene's pixels), seg_small_segment 0 (GeoDeep's default 11 sieves away
  segments under 22 x 22 px, which geoclassify does not do).
GeoDeep still runs a 5 x 5 median filter over the mask (not an option); that and its tile edges (a hard cut in
the overlap, where geoclassify blends with cosine weights) are what the agreement figure measures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from geoclassify.models.bundled import bundled_path
from geoclassify.models.files import read_model_card


def geodeep_model(model: str) -> onnx.ModelProto:
    card = read_model_card(bundled_path(model))
    if card.task != "segmentation":
        raise SystemExit(f"{model} is a {card.task} model; GeoDeep's Segmentor takes segmentation models")
    proto = onnx.load(str(bundled_path(model, "onnx")))
    graph = proto.graph
    (old_in,), (old_out,) = graph.input, graph.output
    tile, channels = card.tile_size, len(card.bands)
    std = np.asarray(card.std, np.float32).reshape(1, -1, 1, 1)
    mean = np.asarray(card.mean, np.float32).reshape(1, -1, 1, 1)
    graph.initializer.extend([numpy_helper.from_array((255.0 / std).astype(np.float32), "geodeep_scale"),
                              numpy_helper.from_array((-mean / std).astype(np.float32), "geodeep_shift")])
    scaled = "geodeep_scaled"
    head = [helper.make_node("Mul", ["input", "geodeep_scale"], [scaled]),
            helper.make_node("Add", [scaled, "geodeep_shift"], [old_in.name])]
    tail = [helper.make_node("Softmax", [old_out.name], ["output"], axis=1)]
    nodes = head + list(graph.node) + tail
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", channels, tile, tile]))
    del graph.output[:]
    classes = len(card.class_names)
    graph.output.append(helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", classes, tile, tile]))
    meta = {
        "model_type": json.dumps("Segmentor"),
        "class_names": json.dumps({str(i): name for i, name in enumerate(card.class_names)}),
        "tiles_overlap": str(round(100 * 2 * card.receptive_margin / tile)),
        "resolution": "1",
        "seg_thresh": "0",
        "seg_small_segment": "0",
    }
    del proto.metadata_props[:]
    for key, value in meta.items():
        proto.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(proto)
    return proto


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="aerial-landcover")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(geodeep_model(args.model), str(args.output))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
