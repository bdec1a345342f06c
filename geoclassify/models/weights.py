"""Loading local pretrained weights into a freshly built model."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn as nn

from geoclassify.errors import ModelFileError

log = logging.getLogger("geoclassify")


def load_pretrained(model: nn.Module, pretrained: str) -> None:
    """Load a local weights file (safetensors or torch state dict), skipping tensors whose shape differs
    (the classifier head, or a first conv for another number of bands)."""
    path = Path(pretrained)
    if not path.is_file():
        raise ModelFileError(f"pretrained weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(set(own) - set(usable))
    model.load_state_dict(usable, strict=False)
    log.info("loaded %d tensors from %s; %d left at random init (e.g. %s)", len(usable), path, len(skipped),
             ", ".join(skipped[:3]) or "none")
