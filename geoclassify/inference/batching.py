"""How many windows go to the model per call: a budget of pixels per call, by backend and device.

A fixed number of windows suits one window size only: 64 chips of 64 pixels are 0.26 Mpx per call, 64 tiles of
256 pixels 4.2 Mpx, whose activations overflow a CPU's caches (measured: `benchmarks/bench_batch.py`, RESULTS.md
"Windows per model call"). The budget is the pixels of scene windows per call that was best, or within a few per
cent of the best, for every bundled model on a CPU, per backend; `--batch-size` overrides it.
"""

from __future__ import annotations

CPU_PIXELS_PER_CALL = {"onnx": 65_536, "torch": 262_144}  # measured on a 2-core AVX2 CPU, every bundled model
CUDA_PIXELS_PER_CALL = 4_194_304  # 64 tiles of 256 px: a GPU wants large batches (not measured: no GPU was lent)


def pixels_per_call(backend: str, device_type: str) -> int:
    """The pixel budget of one model call.

    Args:
        backend: "onnx" or "torch".
        device_type: "cpu" or "cuda".

    Returns:
        Scene pixels (windows x window area) per call.
    """
    return CUDA_PIXELS_PER_CALL if device_type == "cuda" else CPU_PIXELS_PER_CALL.get(backend, 65_536)


def windows_per_call(window: int, budget: int) -> int:
    """Windows of `window` x `window` pixels that fit a budget of pixels per call (at least one).

    Args:
        window: the window's side in pixels (a chip, or a segmentation tile).
        budget: pixels per call (`pixels_per_call`).

    Returns:
        max(1, budget // window²).
    """
    return max(1, budget // (window * window))
