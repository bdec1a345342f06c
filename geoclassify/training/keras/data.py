"""tf.data pipelines over geoclassify's data sources.

Samples are decoded by geoclassify's own readers (chip files, scene windows through `SceneReader`) in a
parallel map, cached on disk as decoded pixels (`.cache(file)`, one file per split, reused by later epochs
and runs), shuffled, augmented in TensorFlow ops, normalised with the card's mean/std, batched, mixed
(CutMix / MixUp) and prefetched. Unreadable or unusable samples are skipped and counted per epoch.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

import numpy as np

from geoclassify.training.chips import Sample, read_image
from geoclassify.training.class_mapping import IGNORE
from geoclassify.training.keras import import_keras
from geoclassify.training.keras.augment import augment_image, mix_batch
from geoclassify.training.scenes import Block, SceneReader, block_windows, random_windows

tf, _ = import_keras()
log = logging.getLogger("geoclassify")

SHUFFLE_BUFFER = 1024  # decoded samples held for shuffling after the cache (bounded memory)


class SkippedSample(ValueError):
    """A readable sample that cannot be used (a scene window with too few labelled pixels)."""


def digest(*parts) -> str:
    """A short (16 hex digits) SHA-1 of the parts' text: the cache key of a split's samples."""
    return hashlib.sha1("\n".join(map(str, parts)).encode()).hexdigest()[:16]


class ChipSplit:
    """The chips of one split, in a fixed order (for training shuffled once, so the cache holds a mixed order)."""

    def __init__(self, name: str, samples: list[Sample], bands: list[int], tile_size: int, seed: int | None):
        order = np.random.default_rng(seed).permutation(len(samples)) if seed is not None else range(len(samples))
        self.name, self.samples, self.bands = name, [samples[i] for i in order], bands
        self.count = len(samples)
        self.key = digest("chips", tile_size, bands, *(f"{s.path}|{s.label}" for s in self.samples))

    def set_epoch(self, epoch: int) -> None:
        """Chips are the same every epoch."""

    def describe(self, i: int) -> str:
        """Chip `i` for messages: its path."""
        return self.samples[i].path

    def read(self, i: int) -> tuple[np.ndarray, int]:
        """Chip `i` as a (height, width, bands) image in raw units, and its class index."""
        return read_image(self.samples[i].path, self.bands), self.samples[i].label


def window_label(classes: np.ndarray, min_labelled: float) -> int:
    """A window's class for a chip classifier: the majority of its labelled pixels."""
    labelled = classes[classes != IGNORE]
    if labelled.size < min_labelled * classes.size or labelled.size == 0:
        raise SkippedSample(f"less than {min_labelled:.0%} of its pixels are labelled")
    return int(np.bincount(labelled).argmax())


class SceneWindowSplit:
    """Scene windows labelled by their majority class: drawn anew each epoch (`count`), or fixed per block."""

    def __init__(self, name: str, reader: SceneReader, blocks: list[Block], size: int, count: int | None,
                 min_labelled: float, seed: int):
        self.name, self.base, self.blocks, self.size = name, reader, blocks, size
        self.random, self.min_labelled, self.seed = count is not None, min_labelled, seed
        self.windows = block_windows(blocks, size) if count is None else []
        self.count = count if count is not None else len(self.windows)
        # random windows change every epoch: caching them would freeze the first epoch's
        self.key = (None if self.random
                    else digest("scene", size, min_labelled, reader.bands, reader.pairs, self.windows))
        self._local = threading.local()

    def set_epoch(self, epoch: int) -> None:
        """Draw the epoch's random windows (seeded by seed and epoch); fixed windows stay."""
        if self.random:
            self.windows = random_windows(self.blocks, self.size, self.count, np.random.default_rng([self.seed, epoch]))

    def reader(self) -> SceneReader:
        """One SceneReader (with its own open datasets) per tf.data thread."""
        if not hasattr(self._local, "reader"):
            self._local.reader = SceneReader(self.base.pairs, self.base.bands, self.base.mapping, self.base.data)
        return self._local.reader

    def describe(self, i: int) -> str:
        """Window `i` for messages: its position and scene."""
        scene, row, col = self.windows[i]
        return f"window {row},{col} of {self.base.pairs[scene].image}"

    def read(self, i: int) -> tuple[np.ndarray, int]:
        """Window `i` as a (size, size, bands) image in raw units, and the majority class of its labelled pixels.

        Raises:
            SkippedSample: too few of its pixels are labelled (`min_labelled`).
            InputError: its labels hold codes or mask colours the config does not map to classes.
        """
        pixels, classes = self.reader().read(*self.windows[i], self.size)
        return pixels, window_label(classes, self.min_labelled)


class Skips:
    """Samples skipped in the current epoch (unreadable or unusable), each reason logged once per process."""

    def __init__(self):
        self.count, self.reasons, self.lock = 0, {}, threading.Lock()

    def reason(self, split, i: int, exc: Exception) -> None:
        """Remember why sample `i` of `split` was skipped, for `counter`'s note to log."""
        with self.lock:
            self.reasons[(split.name, i)] = f"{split.describe(i)}: {exc}"

    def counter(self, split):
        """A numpy function for the samples flagged unreadable (called only for those, cached or not)."""

        def note(i) -> bool:
            with self.lock:
                self.count += 1
                reason = self.reasons.pop((split.name, int(i)), None)
            if reason is not None:
                kind = "unusable" if "labelled" in reason else "unreadable"
                log.warning("skipped %s sample %s", kind, reason)
            return False

        return note


def cache_file(cache_dir: str, split) -> str:
    """The split's cache prefix; an unfinished cache (lock file, no index) from an interrupted run is removed."""
    prefix = Path(cache_dir) / f"{split.name}-{split.key}"
    prefix.parent.mkdir(parents=True, exist_ok=True)
    if Path(f"{prefix}.index").exists():
        log.info("%s: decoded samples from the cache %s", split.name, prefix)
    else:
        for stale in prefix.parent.glob(f"{prefix.name}*"):
            stale.unlink()
        log.info("%s: caching decoded samples in %s during the first epoch", split.name, prefix)
    return str(prefix)


def make_dataset(split, *, shape: tuple[int, int, int], dtype: str, skips: Skips, cache_dir: str | None = None,
                 **batching):
    """A batched dataset of a split: decoded by geoclassify's readers in a parallel map, cached on disk
    (`cache_dir`), unreadable samples skipped and counted; then `prepare_batches(**batching)`."""
    np_dtype = np.dtype(dtype)

    def decode(i):
        i = int(i)
        try:
            image, label = split.read(i)
            if image.shape != shape:
                raise SkippedSample(f"is {image.shape[1]}x{image.shape[0]} pixels with {image.shape[2]} bands, "
                                    f"not {shape[1]}x{shape[0]} with {shape[2]} (data.tile_size, data.bands)")
            return image.astype(np_dtype, copy=False), np.int32(label), True
        except Exception as exc:  # noqa: BLE001 - a damaged file must not stop the run
            skips.reason(split, i, exc)
            return np.zeros(shape, np_dtype), np.int32(0), False

    def load(i):
        image, label, ok = tf.numpy_function(decode, [i], (tf.as_dtype(np_dtype), tf.int32, tf.bool))
        image.set_shape(shape)
        label.set_shape(())
        ok.set_shape(())
        return i, image, label, ok

    note = skips.counter(split)
    ds = tf.data.Dataset.range(split.count).map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache_dir and split.key:
        ds = ds.cache(cache_file(cache_dir, split))
    ds = ds.filter(lambda i, x, y, ok: tf.cond(ok, lambda: True, lambda: tf.numpy_function(note, [i], tf.bool)))
    return prepare_batches(ds.map(lambda i, x, y, ok: (x, y)), count=split.count, dtype=dtype, **batching)


def prepare_batches(ds, *, count: int, dtype: str, mean: list[float], std: list[float], batch_size: int,
                    n_classes: int, train: bool = False, augment: bool = False, mixup: float = 0.0,
                    cutmix: float = 0.0, seed: int = 0):
    """(raw image, label) samples -> shuffled (training), augmented, normalised, batched, mixed, prefetched
    batches of float32 NHWC images; training labels one-hot (soft after CutMix / MixUp)."""
    np_dtype = np.dtype(dtype)
    max_value = float(np.iinfo(np_dtype).max) if np_dtype.kind in "ui" else 1.0
    if train:
        ds = ds.shuffle(min(count, SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)
    mean_t, std_t = tf.constant(mean, tf.float32), tf.constant(std, tf.float32)

    def prepare(x, y):
        x = tf.cast(x, tf.float32)
        if augment:
            x = augment_image(x, max_value)
        return (x - mean_t) / std_t, y

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not train).batch(batch_size)
    if train:
        ds = ds.map(lambda x, y: mix_batch(x, tf.one_hot(y, n_classes), mixup, cutmix),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
