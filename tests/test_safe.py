"""A Sentinel-2 L2A product written by tests.safe from real pixels opens with GDAL's SENTINEL2 driver, which
reads back the DNs written and the metadata a reader relies on."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from tests.safe import write_l2a_safe

DESCRIPTIONS = ("B4, central wavelength 665 nm", "B3, central wavelength 560 nm", "B2, central wavelength 490 nm",
                "B8, central wavelength 842 nm", "AOT, Aerosol Optical Thickness map (at 550nm)",
                "WVP, Scene-average Water Vapour map")


@pytest.fixture(scope="module")
def scene(rgb_byte):
    """RGB.byte.tif's pixels as L2A DNs (0 stays 0, no data; 1-255 become 1008-3000), on a 10 m grid at its
    upper-left corner (the driver's 10 m subdataset has 10 m pixels whatever the files say)."""
    with rasterio.open(rgb_byte) as ds:
        rgb, crs, corner = ds.read(), ds.crs, ds.transform
    dn = np.where(rgb == 0, 0, np.round(rgb * (2000 / 255)) + 1000).astype(np.uint16)
    return rgb, dn, crs, Affine(10, 0, corner.c, 0, -10, corner.f)


@pytest.fixture(scope="module")
def product(scene, tmp_path_factory):
    """The product (baseline 05.11; B08 holds the green pixels, as a stand-in) and its MTD_MSIL2A.xml."""
    _, dn, crs, transform = scene
    # the crs stays EPSG:32618: the driver takes the EPSG code from MTD_TL.xml and never checks it against the
    # tile name; T18RSP is the MGRS square of the scene's corner
    return write_l2a_safe(tmp_path_factory.mktemp("s2"), {"B04": dn[0], "B03": dn[1], "B02": dn[2], "B08": dn[1]},
                          transform, crs, tile="T18RSP")


def test_the_driver_opens_the_product_and_reads_the_dns_written(scene, product):
    _, dn, crs, transform = scene
    with rasterio.open(product) as ds:
        assert ds.driver == "SENTINEL2" and ds.count == 0
        assert ds.subdatasets == [f"SENTINEL2_L2A:{product}:{part}:EPSG_32618" for part in ("10m", "20m", "60m", "TCI")]
        assert ds.tags()["PRODUCT_TYPE"] == "S2MSI2A"
    with rasterio.open(f"SENTINEL2_L2A:{product}:10m:EPSG_32618") as ds:
        assert ds.count == 6 and set(ds.dtypes) == {"uint16"} and ds.descriptions == DESCRIPTIONS
        assert (ds.crs, ds.transform, ds.shape) == (crs, transform, dn.shape[1:])
        data = ds.read()
        assert [np.array_equal(data[i], band) for i, band in enumerate((dn[0], dn[1], dn[2], dn[1]))] == [True] * 4
        assert not data[4:].any()  # AOT and WVP: no files, so no sources
        tags = ds.tags()
        assert (tags["PROCESSING_BASELINE"], tags["PRODUCT_TYPE"], tags["BOA_QUANTIFICATION_VALUE"]) == (
            "05.11", "S2MSI2A", "10000")
        assert (tags["SPECIAL_VALUE_NODATA"], tags["SPECIAL_VALUE_SATURATED"]) == ("0", "65535")
        assert [(ds.tags(i)["BANDNAME"], ds.tags(i).get("BOA_ADD_OFFSET")) for i in range(1, 7)] == [
            ("B4", "-1000"), ("B3", "-1000"), ("B2", "-1000"), ("B8", "-1000"), ("AOT", None), ("WVP", None)]
        assert [c.name for c in ds.colorinterp] == ["red", "green", "blue", "nir", "undefined", "undefined"]
        # GDAL 3.10 reports neither the offset nor the quantification as band offset/scale, nor DN 0 as nodata
        assert (set(ds.scales), set(ds.offsets), set(ds.nodatavals)) == ({1.0}, {0.0}, {None})


def test_the_band_files_are_lossless_jpeg2000_with_the_georeferencing(scene, product):
    _, dn, crs, transform = scene
    (b04,) = product.parent.glob("GRANULE/L2A_T18RSP_*/IMG_DATA/R10m/T18RSP_*_B04_10m.jp2")
    with rasterio.open(b04) as ds:
        assert ds.driver == "JP2OpenJPEG" and ds.tags(ns="IMAGE_STRUCTURE")["COMPRESSION_REVERSIBILITY"] == "LOSSLESS"
        assert (ds.crs, ds.transform) == (crs, transform) and np.array_equal(ds.read(1), dn[0])


def test_an_old_baseline_has_no_offset_and_the_tci_subdataset_reads_the_tci(scene, tmp_path):
    rgb, dn, crs, transform = scene
    rgb, dn = rgb[:, 300:364, 300:364], dn[:, 300:364, 300:364]
    bands = {"B04": dn[0], "B03": dn[1], "B02": dn[2], "B08": dn[1]}
    mtd = write_l2a_safe(tmp_path, bands, transform, crs, baseline="03.01", tci=rgb)
    with rasterio.open(f"SENTINEL2_L2A:{mtd}:10m:EPSG_32618") as ds:
        assert ds.tags()["PROCESSING_BASELINE"] == "03.01" and "N0301" in ds.tags()["PRODUCT_URI"]
        assert all("BOA_ADD_OFFSET" not in ds.tags(i) for i in range(1, 7))
    with rasterio.open(f"SENTINEL2_L2A:{mtd}:TCI:EPSG_32618") as ds:
        assert ds.dtypes == ("uint8",) * 3 and np.array_equal(ds.read(), rgb)


def test_the_builder_refuses_what_the_driver_would_misread(scene, tmp_path):
    _, dn, crs, transform = scene
    bands = {"B04": dn[0], "B03": dn[1], "B02": dn[2], "B08": dn[1]}
    with pytest.raises(ValueError, match="10 m pixels"):
        write_l2a_safe(tmp_path, bands, transform * Affine.scale(30), crs)
    with pytest.raises(ValueError, match="missing"):
        write_l2a_safe(tmp_path, {"B04": dn[0]}, transform, crs)
    with pytest.raises(ValueError, match="uint16"):
        write_l2a_safe(tmp_path, bands | {"B08": dn[1].astype(np.int32)}, transform, crs)
    with pytest.raises(ValueError, match="baseline"):
        write_l2a_safe(tmp_path, bands, transform, crs, baseline="5.11")
    assert not any(tmp_path.iterdir())
