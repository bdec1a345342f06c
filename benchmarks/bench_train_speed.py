"""Training throughput (images/s) per architecture on this machine, on real agri-s2-chips batches.

    .venv/bin/python benchmarks/bench_train_speed.py --data ../shared/data/agri-s2-chips --steps 5

Times forward + backward + optimizer steps after two warm-up steps; batch 32 of 64x64 RGB chips.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from geoclassify.models.factory import count_parameters, create_model

ARCHS = ["compact_cnn", "mobilenetv2_100", "resnet50", "efficientnet_b3", "densenet121", "cnn_vit"]


def load_batch(root: Path, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    files = sorted((root / "agri").glob("*.jpg"))[: n // 2] + sorted((root / "non_agri").glob("*.jpg"))[: n // 2]
    x = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files]).astype(np.float32) / 255.0
    y = torch.tensor([1] * (n // 2) + [0] * (n // 2))
    return torch.from_numpy(x.transpose(0, 3, 1, 2)).contiguous(memory_format=torch.channels_last), y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/agri-s2-chips"))
    ap.add_argument("--archs", nargs="+", default=ARCHS)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    x, y = load_batch(args.data, args.batch_size)
    for arch in args.archs:
        torch.manual_seed(0)
        model = create_model(arch, 3, 2).to(memory_format=torch.channels_last).train()
        opt = torch.optim.AdamW(model.parameters(), 1e-3)
        for step in range(args.steps + 2):
            if step == 2:
                start = time.perf_counter()
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        rate = args.steps * args.batch_size / (time.perf_counter() - start)
        print(json.dumps({"arch": arch, "params_m": round(count_parameters(model) / 1e6, 2),
                          "train_images_per_s": round(rate, 1), "batch": args.batch_size}), flush=True)


if __name__ == "__main__":
    main()
