"""Bundle a trained run's best model into the package: float16 weights, and a card that says what it is.

The card gains the training data, the split, the licence, the command that trained it (from the run's run.json),
the test figures (from test_metrics.json), the GSD decision and the commit; `geoclassify models` lists them.

    .venv/bin/python scripts/bundle_model.py runs/aid_lite0_imagenet_224 --name aerial-scenes \
        --data "AID ..." --split "by image ..." --licence "..." --gsd none --gsd-evidence "..."

The commands that bundled aerial-scenes and aerial-landcover are in benchmarks/RESULTS.md (issue 18).

    .venv/bin/python scripts/bundle_model.py --recolour aerial-scenes

gives a bundled model's classes the default colours of today's trainer (`palette_colour`: distinct for up to 255
classes; aerial-scenes was trained when 12 colours were cycled over its 30 classes), weights and the rest of the
card unchanged; then run scripts/bundle_onnx.py for its ONNX twin.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from geoclassify.models.bundled import BUNDLED, bundled_path
from geoclassify.models.files import load_model, save_model
from geoclassify.training.sources import palette_colour

FIGURES = ("accuracy", "f1", "miou")  # the test metrics a card lists (and a segmenter's IoU per class, iou_*)


def recolour(name: str) -> None:
    """Re-save the bundled model `name` with the trainer's default class colours."""
    path = bundled_path(name, "torch")
    model, card = load_model(path)
    colours = tuple(palette_colour(i) for i in range(card.num_classes))
    save_model(model.half(), dataclasses.replace(card, class_colors=colours), path)
    print(f"{name}: {path}, {len(set(colours))} distinct colours for {card.num_classes} classes")


def main() -> None:
    if sys.argv[1:2] == ["--recolour"]:
        recolour(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="A finished run directory (best.safetensors, test_metrics.json).")
    parser.add_argument("--name", required=True, choices=sorted(BUNDLED))
    parser.add_argument("--data", required=True, help="The training data, in words (source, size, classes).")
    parser.add_argument("--split", required=True, help="How train, validation and test were split.")
    parser.add_argument("--licence", required=True, help="The data's licence, as its source states it.")
    parser.add_argument("--gsd", required=True, help="Metres per pixel the model expects, or 'none'.")
    parser.add_argument("--gsd-evidence", required=True, help="Why this GSD (or why none).")
    args = parser.parse_args()

    model, card = load_model(args.run / "best.safetensors")
    result = json.loads((args.run / "test_metrics.json").read_text())
    run = json.loads((args.run / "run.json").read_text())
    argv = run["environment"]["argv"]
    figures = {f"test_{k}": round(float(v), 4) for k, v in result["test"].items()
               if v is not None and (k in FIGURES or k.startswith("iou_"))}
    provenance = {**card.provenance, "data": args.data, "split": args.split, "licence": args.licence,
                  "command": shlex.join(["geoclassify", *argv[1:]]), "commit": run.get("git_commit"),
                  "best_epoch": result["best_epoch"], "gsd_evidence": args.gsd_evidence, **figures}
    provenance.pop("run", None)  # a path on the training machine
    gsd = None if args.gsd == "none" else float(args.gsd)
    card = dataclasses.replace(card, gsd=gsd, provenance=provenance)
    out = bundled_path(args.name, "torch")
    save_model(model.half(), card, out)
    print(f"{args.name}: {out} ({out.stat().st_size / 1e6:.1f} MB), {figures}")


if __name__ == "__main__":
    main()
