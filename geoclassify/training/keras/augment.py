"""On-the-fly augmentation in TensorFlow ops (inside tf.data): flips, rotations, brightness/contrast, CutMix, MixUp.

The same transforms, probabilities and limits as the PyTorch path (`geoclassify.training.augment`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from geoclassify.training.keras import import_keras

if TYPE_CHECKING:  # annotations only: TensorFlow is imported by import_keras, which checks its version
    from tensorflow import Tensor

tf, _ = import_keras()

MAX_ANGLE = 15.0  # degrees, small rotations (reflected borders, no black corners)


def rotate(image: Tensor, degrees: Tensor) -> Tensor:
    """Rotate an (h, w, bands) image about its centre, bilinear, reflecting at the borders."""
    h, w = image.shape[0], image.shape[1]
    angle = degrees * math.pi / 180.0
    cos, sin = tf.cos(angle), tf.sin(angle)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    transform = tf.stack([cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, 0.0, 0.0])
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=transform[None], output_shape=tf.constant([h, w]), fill_value=0.0,
        interpolation="BILINEAR", fill_mode="REFLECT")
    return out[0]


def augment_image(image: Tensor, max_value: float) -> Tensor:
    """Random flips, a 90-degree rotation, a small rotation (p 0.3) and brightness/contrast (p 0.5) of raw pixels."""
    image = tf.image.random_flip_left_right(image)
    image = tf.image.random_flip_up_down(image)
    if image.shape[0] == image.shape[1]:
        image = tf.image.rot90(image, tf.random.uniform([], 0, 4, tf.int32))
    image = tf.cond(tf.random.uniform([]) < 0.3,
                    lambda: rotate(image, tf.random.uniform([], -MAX_ANGLE, MAX_ANGLE)), lambda: image)

    def jitter():
        alpha = 1.0 + tf.random.uniform([], -0.15, 0.15)
        beta = tf.random.uniform([], -0.15, 0.15) * max_value
        return tf.clip_by_value(image * alpha + beta, 0.0, max_value)

    return tf.cond(tf.random.uniform([]) < 0.5, jitter, lambda: image)


def cutmix(x: Tensor, y: Tensor, perm: Tensor, lam: Tensor) -> tuple[Tensor, Tensor]:
    """Paste a box of area about (1 - lam) from the permuted batch; targets mixed by the box's true area."""
    h, w = x.shape[1], x.shape[2]
    ch = tf.cast(h * tf.sqrt(1.0 - lam), tf.int32)
    cw = tf.cast(w * tf.sqrt(1.0 - lam), tf.int32)
    cy, cx = tf.random.uniform([], 0, h, tf.int32), tf.random.uniform([], 0, w, tf.int32)
    y0, y1 = tf.maximum(cy - ch // 2, 0), tf.minimum(cy + ch // 2, h)
    x0, x1 = tf.maximum(cx - cw // 2, 0), tf.minimum(cx + cw // 2, w)
    rows = tf.logical_and(tf.range(h) >= y0, tf.range(h) < y1)
    cols = tf.logical_and(tf.range(w) >= x0, tf.range(w) < x1)
    box = tf.cast(tf.logical_and(rows[:, None], cols[None, :]), x.dtype)[None, :, :, None]
    mixed = x * (1.0 - box) + tf.gather(x, perm) * box
    kept = 1.0 - tf.cast((y1 - y0) * (x1 - x0), tf.float32) / float(h * w)
    return mixed, kept * y + (1.0 - kept) * tf.gather(y, perm)


def mix_batch(x: Tensor, y: Tensor, mixup: float, cutmix_p: float) -> tuple[Tensor, Tensor]:
    """With probability `cutmix_p` CutMix, else with `mixup` MixUp, a batch with one-hot targets `y`."""
    if not mixup and not cutmix_p:
        return x, y
    draw = tf.random.uniform([])
    perm = tf.random.shuffle(tf.range(tf.shape(x)[0]))
    lam = tf.random.uniform([])  # Beta(1, 1)

    def blend():
        return lam * x + (1.0 - lam) * tf.gather(x, perm), lam * y + (1.0 - lam) * tf.gather(y, perm)

    return tf.cond(draw < cutmix_p, lambda: cutmix(x, y, perm, lam),
                   lambda: tf.cond(draw < cutmix_p + mixup, blend, lambda: (x, y)))
