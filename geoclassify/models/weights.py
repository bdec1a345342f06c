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
    (the classifier head, or a first conv for another number of bands).

    Args:
        model: the freshly built model; its matching tensors are overwritten in place.
        pretrained: the weights file: `.safetensors`, or a torch checkpoint holding a state dict (or a dict
            with one under "state_dict").

    Raises:
        ModelFileError: the file is missing, or a torch checkpoint that holds no state dict.
    """
    path = Path(pretrained)
    if not path.is_file():
        raise ModelFileError(f"pretrained weights file not found: {path}")
    state: dict[str, torch.Tensor]
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
        loaded = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else loaded
        if not isinstance(loaded, dict):
            raise ModelFileError(f"{path} holds a {type(loaded).__name__}, not a state dict of named tensors")
        state = loaded
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(set(own) - set(usable))
    model.load_state_dict(usable, strict=False)
    log.info("loaded %d tensors from %s; %d left at random init (e.g. %s)", len(usable), path, len(skipped),
             ", ".join(skipped[:3]) or "none")
