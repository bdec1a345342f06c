"""What products' digital numbers mean: named products, processing baselines, scale/offset tags, names."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from geoclassify.errors import ConfigError
from geoclassify.io.radiometry import (
    dataset_radiometry,
    processing_baseline,
    product_radiometry,
    recognised_product,
)
from geoclassify.io.raster import BandValues


def test_sentinel2_offset_follows_the_processing_baseline():
    new, old = product_radiometry("sentinel2-l2a", "05.11"), product_radiometry("sentinel2-l2a", "03.01")
    assert (new.scale, new.offset, new.valid) == (1e-4, -0.1, (1, 65534))
    assert (old.scale, old.offset) == (1e-4, 0.0)
    assert product_radiometry("sentinel2-l1c", "04.00").offset == -0.1
    assert product_radiometry("sentinel2-l2a").offset == -0.1  # unknown baseline: every product since 2022
    landsat = product_radiometry("landsat-c2-l2")
    assert (landsat.scale, landsat.offset, landsat.valid) == (0.0000275, -0.2, (7273, 43636))
    with pytest.raises(ConfigError, match="--product must be one of sentinel2-l2a"):
        product_radiometry("sentinel3")


@pytest.mark.parametrize("text, product, baseline", [
    ("S2A_MSIL2A_20250427T101701_N0511_R065_T32UPE_20250427T170513.SAFE/GRANULE", "sentinel2-l2a", "05.11"),
    ("S2B_MSIL1C_20190101T000000_N0207_R000_T31TCJ_20190101T000000", "sentinel2-l1c", "02.07"),
    ("PRODUCT_TYPE=S2MSI2A PROCESSING_BASELINE=05.11", "sentinel2-l2a", None),
    ("LC08_L2SP_044034_20200101_20200823_02_T1_SR_B4.TIF", "landsat-c2-l2", None),
    ("naip_farmland.tif", None, None), ("B04.tif", None, None),
])
def test_products_are_recognised_by_name_and_metadata(text, product, baseline):
    assert recognised_product(text) == product
    assert processing_baseline(text) == baseline


def band_file(path, dn, **tags):
    with rasterio.open(path, "w", driver="GTiff", width=dn.shape[1], height=dn.shape[0], count=1, dtype="uint16",
                       nodata=0) as ds:
        ds.write(dn, 1)
        if "scale" in tags:
            ds.scales, ds.offsets = (tags["scale"],), (tags["offset"],)
    return path


def test_the_user_s_product_wins_then_tags_then_the_name(tmp_path):
    dn = np.full((4, 4), 3000, np.uint16)
    tagged = band_file(tmp_path / "tagged.tif", dn, scale=2e-5, offset=-0.05)
    plain = band_file(tmp_path / "S2B_MSIL2A_20240601T103021_N0400_B04.tif", dn)
    unknown = band_file(tmp_path / "b.tif", dn)
    with rasterio.open(tagged) as ds:
        assert dataset_radiometry(ds, 1, str(tagged), "sentinel2-l2a").offset == -0.1
        tags = dataset_radiometry(ds, 1, str(tagged), None)
        assert (tags.scale, tags.offset, tags.valid) == (2e-5, -0.05, (0, 65535))
    with rasterio.open(plain) as ds:
        named = dataset_radiometry(ds, 1, str(plain), None)
        assert (named.offset, "04.00" in named.source) == (-0.1, True)
    with rasterio.open(unknown) as ds:
        assert dataset_radiometry(ds, 1, str(unknown), None) is None
        assert dataset_radiometry(ds, 1, str(unknown), None, known="landsat-c2-l2").offset == -0.2


def test_band_values_convert_and_clip():
    radiometry = product_radiometry("sentinel2-l2a", "05.11")
    k = 255 / 0.2  # 8-bit true colour: 255 = reflectance 0.2
    values = BandValues(radiometry.scale * k, radiometry.offset * k, radiometry.valid, (0.0, 255.0))
    raw = np.array([1000, 1784, 3000, 500, 65534], np.uint16)  # reflectance 0, 0.0784, 0.2, -0.05, 6.45
    np.testing.assert_allclose(values.convert(raw), [0.0, 99.96, 255.0, 0.0, 255.0], atol=1e-3)
    assert values.convert(raw).dtype == np.float32
