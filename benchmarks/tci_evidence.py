"""What mapping of reflectance the default model's training chips were made with: the evidence.

The chips (../shared/data/agri-s2-chips, 5,509 RGB JPGs) come from products named S2A_MSIL2A_..._N0511_...: a
Level-2A product, whose only 8-bit RGB image is the true-colour image TCI_10m (Sentinel-2 Products
Specification: B04, B03, B02 BOA reflectance mapped linearly to 1-255, 255 = reflectance 0.2 (2000 DN before the
offset), 0 kept for no data). The alternatives are a stretch of the reflectance bands per chip (min-max or
percentiles, as tutorials do), per tile, or the L1C TCI (255 = TOA reflectance 0.3558).

Measured here over every chip, per band (R, G, B):
1. Per-chip stretch: a min-max stretch puts each chip's minimum near 0 and its maximum at 255 in every band; a
   fixed mapping leaves dark chips (forest, water) far below 255 and bright ones far above 0.
2. The level of known surfaces: medians and percentiles per class, read as reflectance under each TCI mapping,
   against textbook April reflectances of green vegetation (red 0.03-0.05, green 0.06-0.09, blue 0.02-0.05)
   and bare soil (0.10-0.25), approximate values of spectral libraries (USGS splib07, ECOSTRESS), not
   measurements of these fields.
   Top-of-atmosphere (L1C) blue is well above red over vegetation (Rayleigh scattering); surface (L2A) blue is
   about red: the blue / red ratio of the agricultural chips tells L1C from L2A.
3. Saturation: the share of 255 (clouds and bright roofs saturate at reflectance 0.2 in the L2A TCI), and the
   spread of chip means (a per-chip stretch evens them out).

    .venv/bin/python benchmarks/tci_evidence.py --data ../shared/data/agri-s2-chips
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

MAPPINGS = {"L2A TCI (255 = 0.2)": 0.2, "L1C TCI (255 = 0.3558)": 0.3558}
BANDS = ("red", "green", "blue")


def load(folder: Path) -> np.ndarray:
    """The chips of a class folder, (n, 64, 64, 3) uint8."""
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.jpg"))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/agri-s2-chips"))
    args = parser.parse_args()
    chips = {name: load(args.data / name) for name in ("agri", "non_agri")}
    every = np.concatenate(list(chips.values()))
    print(f"{len(every)} chips")

    mins, maxs = every.min(axis=(1, 2)), every.max(axis=(1, 2))  # (n, 3)
    print("\n1. Per-chip stretch? Share of chips whose band reaches 255 / goes down to <= 2, and the median of "
          "the chips' maxima and minima:")
    for b, band in enumerate(BANDS):
        print(f"  {band:5s} max=255: {np.mean(maxs[:, b] == 255):6.1%}  min<=2: {np.mean(mins[:, b] <= 2):6.1%}  "
              f"median max {np.median(maxs[:, b]):5.0f}  median min {np.median(mins[:, b]):5.0f}")

    print("\n2. Levels per class: percentiles 5/50/95 of the 8-bit values, and the median as reflectance under "
          "each mapping:")
    for name, x in chips.items():
        for b, band in enumerate(BANDS):
            p5, p50, p95 = np.percentile(x[..., b], (5, 50, 95))
            as_reflectance = "  ".join(f"{label}: {p50 / 255 * top:.3f}" for label, top in MAPPINGS.items())
            print(f"  {name:8s} {band:5s} {p5:5.0f} {p50:5.0f} {p95:5.0f}   median as reflectance  {as_reflectance}")

    agri = chips["agri"].reshape(-1, 3)
    blue_red = np.median(agri[:, 2]) / np.median(agri[:, 0])
    print(f"  blue / red of the agricultural chips' medians: {blue_red:.2f} (surface reflectance of vegetation: about "
          "1; top-of-atmosphere, L1C: well above 1, the blue of Rayleigh scattering)")

    print("\n3. Saturation: share of pixels at 255, per band:",
          "  ".join(f"{band} {np.mean(every[..., b] == 255):.3%}" for b, band in enumerate(BANDS)))
    dark = every.reshape(len(every), -1, 3).mean(axis=1).mean(axis=1)
    order = np.argsort(dark)
    print("   darkest 1% of chips (mean value):", f"{dark[order[: len(order) // 100]].mean():.1f}",
          "  brightest 1%:", f"{dark[order[-len(order) // 100:]].mean():.1f}")


if __name__ == "__main__":
    main()
