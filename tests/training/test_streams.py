"""The loader sends raw pixels between processes; the trainer normalises them on the device."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from geoclassify.training.band_stats import RunningBandStats
from geoclassify.training.chips import band_stats, read_image, scan_chip_folders
from geoclassify.training.config import DataConfig
from geoclassify.training.streams import BatchNormalizer, ChipStream, collate


def test_workers_send_native_pixels_and_normalising_matches_float_arithmetic(agnet_chips):
    data = DataConfig(path=str(agnet_chips), tile_size=32)
    _, samples = scan_chip_folders(data)
    samples = samples[:24]
    stats = band_stats(samples, [])
    stream = ChipStream(samples, [], shuffle=False, augment=False)
    loader = DataLoader(stream, batch_size=8, num_workers=2, collate_fn=collate)
    batches = list(loader)
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    assert x.dtype == torch.uint8 and x.shape == (24, 7, 32, 32)  # 4x smaller in flight than float32
    files = {read_image(s.path, []).tobytes(): s for s in samples}
    normalizer = BatchNormalizer(stats.mean, stats.std)
    mean, std = np.asarray(stats.mean, np.float32), np.asarray(stats.std, np.float32)
    seen = set()
    for raw, normalised, label in zip(x, normalizer.images(x), normalizer.targets(y)):
        image = np.ascontiguousarray(raw.numpy().transpose(1, 2, 0))
        sample = files[image.tobytes()]  # a file's pixels, unchanged
        seen.add(sample.path)
        assert label.dtype == torch.int64 and int(label) == sample.label
        expected = ((image.astype(np.float32) - mean) / std).transpose(2, 0, 1)
        assert normalised.dtype == torch.float32 and np.array_equal(normalised.numpy(), expected)
    assert len(seen) == 24


def test_running_band_stats_equal_stacking_every_image(agnet_chips):
    images = [read_image(str(p), []) for p in sorted(agnet_chips.rglob("*.tif"))]
    stats = RunningBandStats()
    for image in images:
        stats.add(image)
    stacked = np.concatenate([i.reshape(-1, 7) for i in images]).astype(np.float64)
    mean, std = stats.result()
    assert stats.count == len(stacked) and stats.dtype == "uint8"
    np.testing.assert_allclose(mean, stacked.mean(0), rtol=1e-12)
    np.testing.assert_allclose(std, stacked.std(0), rtol=1e-10)


def test_the_sample_cache_holds_the_decoded_images_and_nothing_half_written(agnet_chips, tmp_path):
    data = DataConfig(path=str(agnet_chips), tile_size=32)
    samples = scan_chip_folders(data)[1][:6]
    cache = tmp_path / "cache"
    stream = ChipStream(samples, [], shuffle=False, augment=False, cache_dir=str(cache))
    first = [stream.load(s) for s in samples]
    assert sorted(p.suffix for p in cache.iterdir()) == [".npy"] * 6  # no temporary file left behind
    for s, image in zip(samples, first):
        assert np.array_equal(image, read_image(s.path, []))
    for path in cache.iterdir():  # the second pass reads the cache: change it and the stream must follow
        np.save(path, np.load(path) + 1)
    assert all(np.array_equal(stream.load(s), image + 1) for s, image in zip(samples, first))
