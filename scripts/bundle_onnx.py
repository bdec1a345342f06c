"""Write the ONNX twin of each bundled model: what the core install (no torch) runs with ONNX Runtime.

The twin is the float32 ONNX export of the bundled `.safetensors` model (torch widens its float16 weights when it
loads them), with the same card; its provenance names the file it was exported from.

    .venv/bin/python scripts/bundle_onnx.py            # every bundled model
    .venv/bin/python scripts/bundle_onnx.py aerial-scenes

Checks, per model: ONNX Runtime against torch on the export's example batch (largest logit difference printed).
Storing the initializers as float16 does not pay: the exporter folds batch norms into the convolutions, so almost
no initializer is still exactly a float16 value (1 of 93 for aerial-scenes).
"""

from __future__ import annotations

import argparse

from geoclassify.export.onnx_export import check_agreement, trace_to_onnx
from geoclassify.models.bundled import BUNDLED, bundled_path
from geoclassify.models.card import with_provenance
from geoclassify.models.files import load_model
from geoclassify.models.onnx_file import save_with_card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"Bundled models (default: all of {', '.join(BUNDLED)}).")
    args = parser.parse_args()
    for name in args.names or BUNDLED:
        source = bundled_path(name, "torch")
        model, card = load_model(source)
        card = with_provenance(card, exported_from=source.name, format="onnx float32")
        proto, example = trace_to_onnx(model, card)
        out = bundled_path(name, "onnx", must_exist=False)
        save_with_card(proto, card, out)
        diff = check_agreement(model, example, out)
        print(f"{name}: {out} ({out.stat().st_size / 1e6:.1f} MB); max |logit difference| to torch: {diff:.2g}")


if __name__ == "__main__":
    main()
