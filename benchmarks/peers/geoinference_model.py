"""A geo-inference copy of a bundled segmentation model: the same weights as TorchScript, in the form geo-inference
runs.

    .venv/bin/python benchmarks/peers/geoinference_model.py -o /tmp/bench/aerial_landcover_geoinference.pt

What geo-inference 3.2 does with a model (geo_inference.py, geo_dask.py): `torch.jit.load(path)` (a local path is
taken as it is; a URL is downloaded), then each patch goes in as the scene's raw values (a uint8 tensor for a
uint8 scene, (1, bands, patch, patch)), with no normalisation of its own, and the output (1, classes, patch,
patch) is Hann-weighted, summed over 50 %-overlapping patches and argmax-ed. So the card's (pixel - mean) / std is
put inside the TorchScript module, in front of the network, with a softmax after it (geo-inference averages what
the model gives; geoclassify blends probabilities). Patches at the scene's right and bottom edge are smaller than
the patch size: the module is traced with dynamic shapes, and checked on two sizes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from geoclassify.models.bundled import bundled_path
from geoclassify.models.files import load_model, read_model_card


class RawInput(torch.nn.Module):
    """Raw scene values in, class probabilities out."""

    def __init__(self, net: torch.nn.Module, mean: list[float], std: list[float]):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net((x.float() - self.mean) / self.std), dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="aerial-landcover")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    card = read_model_card(bundled_path(args.model))
    if card.task != "segmentation":
        raise SystemExit(f"{args.model} is a {card.task} model; geo-inference runs segmentation models")
    module = RawInput(load_model(bundled_path(args.model, "torch"))[0].eval(), list(card.mean), list(card.std)).eval()
    tile = card.tile_size
    example = torch.randint(0, 256, (1, len(card.bands), tile, tile), dtype=torch.uint8)
    with torch.inference_mode():
        try:
            scripted, how = torch.jit.script(module), "scripted"
        except Exception:  # noqa: BLE001 - not scriptable: trace (the network's sizes come from x.shape)
            scripted, how = torch.jit.trace(module, example, check_trace=False), "traced"
        for side in (tile, tile // 2):
            x = torch.randint(0, 256, (1, len(card.bands), side, side), dtype=torch.uint8)
            got, want = scripted(x), module(x)
            if got.shape != want.shape or not torch.allclose(got, want, atol=1e-5):
                raise SystemExit(f"the TorchScript module differs from the model on a {side}-px patch")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    scripted.save(str(args.output))
    print(f"wrote {args.output} ({how})")


if __name__ == "__main__":
    main()
