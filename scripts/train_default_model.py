"""Train the bundled default model: agricultural / non-agricultural on Sentinel-2 RGB chips.

Data: ../shared/data/agri-s2-chips/{agri,non_agri}/*.jpg (64x64, 10 m). The split is by place:
each S2 tile's 172x172 chip grid is cut into 4x4 spatial blocks of 43x43 chips; whole blocks go
to train, validation or test, so neighbouring chips never straddle the split. With
`--holdout-tile T32UQB` the test set is that whole tile instead (a harder, cross-tile check).

    .venv/bin/python scripts/train_default_model.py --data ../shared/data/agri-s2-chips \
        --out geoclassify/weights/agri_s2_rgb_compact.safetensors
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from geoclassify.models.card import ModelCard
from geoclassify.models.factory import count_parameters, create_model
from geoclassify.models.files import save_model

CLASSES = ("non_agricultural", "agricultural")
FOLDERS = ("non_agri", "agri")
COLORS = ((200, 200, 200), (230, 180, 40))
GRID, BLOCK = 172, 43
RADIOMETRY = ("8-bit true colour as the Sentinel-2 L2A TCI: 255 = surface reflectance 0.2; evidence in "
              "benchmarks/RESULTS.md (issue 17)")
# small enough to run a gigapixel scene on a laptop CPU in minutes (about 23 MMAC per 64x64 chip)
ARCH = {"widths": [24, 48, 96, 160], "convs_per_stage": 2, "stem_stride": 2}


def split_of(tile: str, index: int, holdout_tile: str | None = None) -> str:
    """Assign a chip to train/val/test by the spatial block it lies in (or test = a whole S2 tile)."""
    block_row, block_col = (index // GRID) // BLOCK, (index % GRID) // BLOCK
    phase = (block_row + block_col) % 4
    if holdout_tile is not None:
        return "test" if tile == holdout_tile else ("val" if phase == 0 else "train")
    if phase == 0:
        return "test"
    if phase == 2 and block_row % 2 == 0:
        return "val"
    return "train"


def load_chips(root: Path, holdout_tile: str | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    pattern = re.compile(r"_(T\d\d[A-Z]{3})_.*_(\d+)\.jpg$")
    parts: dict[str, tuple[list, list]] = {"train": ([], []), "val": ([], []), "test": ([], [])}
    for label, folder in enumerate(FOLDERS):
        for path in sorted((root / folder).glob("*.jpg")):
            match = pattern.search(path.name)
            if match is None:
                raise SystemExit(f"unexpected chip name {path.name}")
            split = split_of(match.group(1), int(match.group(2)), holdout_tile)
            parts[split][0].append(np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1))
            parts[split][1].append(label)
    return {k: (np.stack(x), np.array(y)) for k, (x, y) in parts.items()}


def augment(x: torch.Tensor) -> torch.Tensor:
    """Random flips, 90-degree rotations and brightness/contrast jitter (on normalised input)."""
    if torch.rand(()) < 0.5:
        x = x.flip(3)
    if torch.rand(()) < 0.5:
        x = x.flip(2)
    x = torch.rot90(x, int(torch.randint(0, 4, ())), dims=(2, 3))
    n = x.shape[0]
    gain = 1 + 0.2 * (torch.rand(n, 1, 1, 1) - 0.5)
    bias = 0.2 * (torch.rand(n, 1, 1, 1) - 0.5)
    return x * gain + bias


@torch.inference_mode()
def predict_proba(model: torch.nn.Module, x: torch.Tensor, batch: int = 256) -> np.ndarray:
    model.eval()
    out = [F.softmax(model(x[i : i + batch]), 1)[:, 1] for i in range(0, len(x), batch)]
    return torch.cat(out).numpy()


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    pred = (p >= 0.5).astype(int)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred)),
        "recall": float(recall_score(y, pred)),
        "f1": float(f1_score(y, pred)),
        "roc_auc": float(roc_auc_score(y, p)),
        "n": int(len(y)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/agri-s2-chips"))
    ap.add_argument("--out", type=Path, default=Path("geoclassify/weights/agri_s2_rgb_compact.safetensors"))
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--holdout-tile", help="test on this whole S2 tile (e.g. T32UQB) instead of spatial blocks")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    data = load_chips(args.data, args.holdout_tile)
    xtr_raw, ytr = data["train"]
    mean = xtr_raw.reshape(len(xtr_raw), 3, -1).mean(axis=(0, 2))
    std = xtr_raw.reshape(len(xtr_raw), 3, -1).std(axis=(0, 2))
    norm = lambda a: torch.from_numpy(((a - mean[:, None, None]) / std[:, None, None]).astype(np.float32))  # noqa: E731
    xtr, xva, xte = norm(xtr_raw), norm(data["val"][0]), norm(data["test"][0])
    yva, yte = data["val"][1], data["test"][1]
    print(f"chips: train {len(ytr)}, val {len(yva)}, test {len(yte)}", flush=True)

    model = create_model("compact_cnn", 3, 2, **ARCH).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * ((len(ytr) + args.batch_size - 1) // args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    ytr_t = torch.from_numpy(ytr)
    best_auc, best_state, best_epoch = -1.0, None, -1
    for epoch in range(args.epochs):
        model.train()
        t0, total = time.time(), 0.0
        for idx in torch.randperm(len(ytr)).split(args.batch_size):
            xb = augment(xtr[idx]).contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(xb), ytr_t[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        val = metrics(yva, predict_proba(model, xva))
        print(f"epoch {epoch + 1}: loss {total / len(ytr):.4f} val acc {val['accuracy']:.4f} "
              f"auc {val['roc_auc']:.4f} ({time.time() - t0:.0f} s)", flush=True)
        if val["roc_auc"] + val["accuracy"] > best_auc:
            best_auc, best_epoch = val["roc_auc"] + val["accuracy"], epoch + 1
            best_state = {k: v.clone() for k, v in model.state_dict().items()}

    model.load_state_dict(best_state)
    val, test = metrics(yva, predict_proba(model, xva)), metrics(yte, predict_proba(model, xte))
    print("best epoch", best_epoch, "val", json.dumps(val), "\ntest", json.dumps(test), flush=True)
    card = ModelCard(
        architecture="compact_cnn", arch_kwargs=ARCH, task="classification", class_names=CLASSES, class_colors=COLORS,
        bands=(1, 2, 3), band_names=("red", "green", "blue"), mean=tuple(map(float, mean)),
        std=tuple(map(float, std)), tile_size=64, dtype="uint8", gsd=10.0,
        reflectance_scale=255 / 0.2, value_range=(0.0, 255.0), radiometry=RADIOMETRY,
        provenance={
            "data": "agri-s2-chips: Sentinel-2 L2A RGB chips, tiles T32UPE and T32UQB, 2025-04-27",
            "split": f"test = S2 tile {args.holdout_tile}" if args.holdout_tile
            else "spatial blocks of 43x43 chips per S2 tile (train/val/test by block)",
            "script": "scripts/train_default_model.py", "epochs": args.epochs, "best_epoch": best_epoch,
            "seed": args.seed, "test_accuracy": round(test["accuracy"], 4), "test_roc_auc": round(test["roc_auc"], 4),
            "parameters": count_parameters(model),
        },
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_model(model.to(memory_format=torch.contiguous_format), card, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
