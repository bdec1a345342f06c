"""How many windows go to the model per call: a budget of pixels per call, by backend and device.

A fixed number of windows suits one window size only: 64 chips of 64 pixels are 0.26 Mpx per call, 64 tiles of
256 pixels 4.2 Mpx, whose activations overflow a CPU's caches (measured: `benchmarks/bench_batch.py`, RESULTS.md
"Windows per model call"). The budget counts the pixels the network sees: a window resized inside the model
(`input_size` of a timm classifier's card, e.g. 150-px chips seen at 224 px) counts at that size. It is the budget
that came within a few per cent of the best batch size for every bundled model on a CPU, per backend;
`--batch-size` overrides it.
"""

from __future__ import annotations

from geoclassify.models.card import ModelCard

CPU_PIXELS_PER_CALL = {"onnx": 131_072, "torch": 262_144}  # measured on a 2-core AVX2 CPU, every bundled model
CUDA_PIXELS_PER_CALL = 4_194_304  # 64 tiles of 256 px: a GPU wants large batches (not measured: no GPU was lent)


def pixels_per_call(backend: str, device_type: str) -> int:
    """The pixel budget of one model call.

    Args:
        backend: "onnx" or "torch".
        device_type: "cpu" or "cuda".

    Returns:
        Scene pixels (windows x window area) per call.
    """
    return CUDA_PIXELS_PER_CALL if device_type == "cuda" else CPU_PIXELS_PER_CALL[backend]


def windows_per_call(window: int, budget: int) -> int:
    """Windows of `window` x `window` pixels that fit a budget of pixels per call (at least one).

    Args:
        window: the window's side in pixels as the network sees it (`network_window`).
        budget: pixels per call (`pixels_per_call`).

    Returns:
        max(1, budget // window²).
    """
    return max(1, budget // (window * window))


def network_window(card: ModelCard, window: int) -> int:
    """The side in pixels at which the network sees a window: its card's `input_size` where the model resizes
    its chips, else the window's own.

    Args:
        card: the model's card.
        window: the layout's window side in scene pixels.

    Returns:
        The side in pixels.
    """
    return int(card.arch_kwargs.get("input_size") or window)
