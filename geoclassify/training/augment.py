"""On-the-fly augmentation: albumentations for images, CutMix / MixUp for batches."""

from __future__ import annotations

import albumentations as A
import numpy as np
import torch


def build_augment(seed: int) -> A.Compose:
    """Flips, 90-degree rotations, small rotations and brightness/contrast, seeded for reproducibility."""
    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.5),
            A.RandomRotate90(p=0.5),
            A.Affine(rotate=(-15, 15), border_mode=4, p=0.3),  # 4: reflect-101, no black corners
            A.RandomBrightnessContrast(brightness_limit=0.15, contrast_limit=0.15, p=0.5),
        ],
        seed=seed,
    )


def mix_batch(x: torch.Tensor, y: torch.Tensor, num_classes: int, mixup: float, cutmix: float,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """With probability `cutmix` paste a box from a shuffled batch, else with `mixup` blend two batches.

    Returns the (possibly mixed) inputs and soft targets of shape (n, classes).
    """
    target = torch.nn.functional.one_hot(y, num_classes).float()
    draw = float(torch.rand((), generator=generator))
    if draw >= cutmix + mixup or len(x) < 2:
        return x, target
    perm = torch.randperm(len(x), generator=generator)
    lam = float(np.random.default_rng(int(torch.randint(0, 2**31, (), generator=generator))).beta(1.0, 1.0))
    if draw < cutmix:
        h, w = x.shape[-2:]
        ch, cw = int(h * (1 - lam) ** 0.5), int(w * (1 - lam) ** 0.5)
        cy, cx = int(torch.randint(0, h, (), generator=generator)), int(torch.randint(0, w, (), generator=generator))
        y0, y1, x0, x1 = max(cy - ch // 2, 0), min(cy + ch // 2, h), max(cx - cw // 2, 0), min(cx + cw // 2, w)
        x = x.clone()
        x[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    else:
        x = lam * x + (1 - lam) * x[perm]
    return x, lam * target + (1 - lam) * target[perm]
