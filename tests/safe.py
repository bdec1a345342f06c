"""A minimal Sentinel-2 Level-2A product (a SAFE folder, compact naming) written from given 10 m pixels, which
GDAL's SENTINEL2 driver opens through its MTD_MSIL2A.xml: for tests of code that reads such products.

What the driver needs, as its source reads them (GDAL 3.10, frmts/sentinel2/sentinel2dataset.cpp):

- MTD_MSIL2A.xml whose first bytes hold "<n1:Level-2A_User_Product" and "User_Product_Level-2A" (the namespace);
  General_Info/Product_Info with Query_Options/PRODUCT_FORMAT "SAFE_COMPACT" (the layout of every product since
  2016) and a PRODUCT_URI of the compact naming "S2B_MSIL2A_<sensing>_N<baseline>_R<orbit>_<tile>_<gen>.SAFE":
  the driver cuts the tile (characters 38-43) and "_<sensing>" (10-25) from it to name the band files
  IMG_DATA/R10m/<tile>_<sensing>_B02_10m.jp2;
- one Granule_List/Granule per granule whose first IMAGE_FILE is GRANULE/<granule>/IMG_DATA/R10m/<file stem>:
  the driver finds the granule's MTD_TL.xml from it;
- MTD_TL.xml with Geometric_Info/Tile_Geocoding: HORIZONTAL_CS_CODE "EPSG:n", Size (NROWS, NCOLS) and
  Geoposition (ULX, ULY) for resolution 10. The driver places the 10 m subdataset from these alone (pixel size
  10 m, the EPSG code given); it does not read the georeferencing of the JPEG 2000 files, nor check that the
  tile name matches the code's UTM zone.

The product metadata the driver reports comes from Product_Info (PROCESSING_BASELINE, PRODUCT_TYPE...),
Special_Values (SPECIAL_VALUE_NODATA...), QUANTIFICATION_VALUES_LIST (BOA_QUANTIFICATION_VALUE...) and, per band,
BOA_ADD_OFFSET_VALUES_LIST (a band tag BOA_ADD_OFFSET). The XML here is our own, built with ElementTree: only
what the driver reads and a few identifying fields, not ESA's full schema.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform as warp_transform

RESOLUTION = 10
REQUIRED_BANDS = ("B02", "B03", "B04", "B08")
OPTIONAL_BANDS = ("AOT", "WVP")  # the 10 m subdataset has these two bands too; without their files they read 0
# ESA's band_id of each spectral band (the index the driver looks up BOA_ADD_OFFSET band_id in)
BAND_IDS = {name: i for i, name in enumerate(
    ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"))}
# lossless JPEG 2000 (GDAL's JP2OpenJPEG driver: the reversible 5/3 wavelet, every layer kept)
JP2_OPTIONS = {"REVERSIBLE": "YES", "QUALITY": "100"}
PRODUCT_NS = "https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd"
TILE_NS = "https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-2A_Tile_Metadata.xsd"
OFFSET_BASELINE = (4, 0)  # BOA_ADD_OFFSET is in the metadata of products of this processing baseline and later


def _sub(parent: ET.Element, tag: str, text: object = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = str(text)
    return element


def _number(value: float) -> str:
    return f"{value:.15g}"


def _iso(sensing: str) -> str:
    return f"{sensing[:4]}-{sensing[4:6]}-{sensing[6:11]}:{sensing[11:13]}:{sensing[13:15]}.000Z"


def _write_xml(root: ET.Element, path: Path) -> None:
    ET.indent(root)
    path.write_bytes(ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n")


def _footprint(transform: Affine, width: int, height: int, crs: CRS) -> str:
    """The corners (and the first again), "lat lon" pairs as EXT_POS_LIST writes them."""
    corners = [transform * xy for xy in ((0, 0), (width, 0), (width, height), (0, height), (0, 0))]
    lons, lats = warp_transform(crs, "EPSG:4326", [x for x, _ in corners], [y for _, y in corners])
    return " ".join(f"{lat:.8f} {lon:.8f}" for lat, lon in zip(lats, lons))


def _write_jp2(path: Path, data: np.ndarray, transform: Affine, crs: CRS) -> None:
    data = data if data.ndim == 3 else data[np.newaxis]
    with rasterio.open(path, "w", driver="JP2OpenJPEG", width=data.shape[2], height=data.shape[1],
                       count=data.shape[0], dtype=data.dtype, crs=crs, transform=transform, **JP2_OPTIONS) as ds:
        ds.write(data)


def write_l2a_safe(folder: Path, bands: dict[str, np.ndarray], transform: Affine, crs: CRS | str, *,
                   baseline: str = "05.11", tile: str = "T32UPE", boa_offset: int = -1000,
                   quantification: int = 10000, sensing: str = "20240601T103021", spacecraft: str = "S2B",
                   tci: np.ndarray | None = None) -> Path:
    """Write a Sentinel-2 L2A product of one granule into `folder` and return its MTD_MSIL2A.xml.

    Args:
        folder: the directory the product's .SAFE folder is made in (it must not hold that product already).
        bands: the 10 m bands, uint16 2-D arrays of one shape: "B02", "B03", "B04", "B08" and optionally "AOT"
            and "WVP", each written to IMG_DATA/R10m/<tile>_<sensing>_<band>_10m.jp2, losslessly.
        transform: the bands' north-up transform, 10 m pixels (the driver's 10 m grid; another size is refused
            because the driver would report 10 m whatever the files say).
        crs: the bands' CRS, one with an EPSG code (HORIZONTAL_CS_CODE), e.g. EPSG:32632.
        baseline: the processing baseline "NN.NN"; from 04.00 the metadata carries BOA_ADD_OFFSET per band.
        tile: the MGRS tile "T32UPE" (in the names only: the driver does not check it against `crs`).
        boa_offset: BOA_ADD_OFFSET of every band, in DN (written only for a baseline of 04.00 or later).
        quantification: BOA_QUANTIFICATION_VALUE (reflectance = (DN + BOA_ADD_OFFSET) / quantification).
        sensing: the datatake's sensing start, "YYYYMMDDTHHMMSS" (in the product and file names).
        spacecraft: "S2A", "S2B" or "S2C".
        tci: an optional true colour image, uint8 (3, rows, cols), written as <tile>_<sensing>_TCI_10m.jp2 (the
            driver's TCI subdataset reads it).

    Raises:
        ValueError: a band missing, unknown, not uint16 2-D or not all one shape; `tci` not uint8 of three
            such bands; a transform not north-up at 10 m; a CRS without an EPSG code; a malformed baseline,
            tile, sensing time or spacecraft.
    """
    missing = [name for name in REQUIRED_BANDS if name not in bands]
    unknown = sorted(set(bands) - set(REQUIRED_BANDS) - set(OPTIONAL_BANDS))
    if missing or unknown:
        raise ValueError(f"bands must be {', '.join(REQUIRED_BANDS)} (and optionally {', '.join(OPTIONAL_BANDS)}):"
                         f" missing {missing}, unknown {unknown}")
    shapes = {np.shape(data) for data in bands.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2 or any(np.asarray(d).dtype != np.uint16
                                                               for d in bands.values()):
        raise ValueError(f"bands must be uint16 2-D arrays of one shape, not {sorted(shapes)}")
    height, width = next(iter(shapes))
    if tci is not None and (tci.dtype != np.uint8 or tci.shape != (3, height, width)):
        raise ValueError(f"tci must be uint8 (3, {height}, {width}), not {tci.dtype} {tci.shape}")
    transform = Affine(*transform[:6])
    if (transform.a, transform.b, transform.d, transform.e) != (RESOLUTION, 0, 0, -RESOLUTION):
        raise ValueError(f"transform must be north-up with {RESOLUTION} m pixels, not {tuple(transform)[:6]}")
    crs = CRS.from_user_input(crs)
    epsg = crs.to_epsg()
    if epsg is None:
        raise ValueError(f"crs must have an EPSG code, not {crs}")
    if not re.fullmatch(r"\d\d\.\d\d", baseline):
        raise ValueError(f"baseline must be like '05.11', not {baseline!r}")
    if not re.fullmatch(r"T\d\d[C-HJ-NP-X][A-HJ-NP-Z]{2}", tile):
        raise ValueError(f"tile must be an MGRS tile like 'T32UPE', not {tile!r}")
    if not re.fullmatch(r"\d{8}T\d{6}", sensing):
        raise ValueError(f"sensing must be like '20240601T103021', not {sensing!r}")
    if not re.fullmatch(r"S2[A-D]", spacecraft):
        raise ValueError(f"spacecraft must be S2A, S2B, S2C or S2D, not {spacecraft!r}")

    n_baseline = "N" + baseline.replace(".", "")
    orbit = "R022"
    product_uri = f"{spacecraft}_MSIL2A_{sensing}_{n_baseline}_{orbit}_{tile}_{sensing}.SAFE"
    granule = f"L2A_{tile}_A000001_{sensing}"
    granule_id = f"{spacecraft}_OPER_MSI_L2A_TL_TEST_{sensing}_A000001_{tile}_{n_baseline}"
    datastrip_id = f"{spacecraft}_OPER_MSI_L2A_DS_TEST_{sensing}_S{sensing}_{n_baseline}"
    safe = Path(folder) / product_uri
    img_dir = safe / "GRANULE" / granule / "IMG_DATA" / f"R{RESOLUTION}m"
    img_dir.mkdir(parents=True)

    files = {name: f"{tile}_{sensing}_{name}_{RESOLUTION}m" for name in bands}
    for name, data in bands.items():
        _write_jp2(img_dir / f"{files[name]}.jp2", np.asarray(data), transform, crs)
    if tci is not None:
        files["TCI"] = f"{tile}_{sensing}_TCI_{RESOLUTION}m"
        _write_jp2(img_dir / f"{files['TCI']}.jp2", tci, transform, crs)

    # the granule's MTD_TL.xml: where the tile is
    root = ET.Element("n1:Level-2A_Tile_ID", {"xmlns:n1": TILE_NS})
    general = _sub(root, "n1:General_Info")
    _sub(general, "TILE_ID", granule_id)
    _sub(general, "DATASTRIP_ID", datastrip_id)
    _sub(general, "SENSING_TIME", _iso(sensing))
    geocoding = _sub(_sub(root, "n1:Geometric_Info"), "Tile_Geocoding")
    _sub(geocoding, "HORIZONTAL_CS_NAME", crs.to_wkt().split('"')[1])
    _sub(geocoding, "HORIZONTAL_CS_CODE", f"EPSG:{epsg}")
    size = _sub(geocoding, "Size", resolution=str(RESOLUTION))
    _sub(size, "NROWS", height)
    _sub(size, "NCOLS", width)
    position = _sub(geocoding, "Geoposition", resolution=str(RESOLUTION))
    _sub(position, "ULX", _number(transform.c))
    _sub(position, "ULY", _number(transform.f))
    _sub(position, "XDIM", RESOLUTION)
    _sub(position, "YDIM", -RESOLUTION)
    _write_xml(root, safe / "GRANULE" / granule / "MTD_TL.xml")

    # the product's MTD_MSIL2A.xml
    root = ET.Element("n1:Level-2A_User_Product", {"xmlns:n1": PRODUCT_NS})
    general = _sub(root, "n1:General_Info")
    info = _sub(general, "Product_Info")
    _sub(info, "PRODUCT_START_TIME", _iso(sensing))
    _sub(info, "PRODUCT_STOP_TIME", _iso(sensing))
    _sub(info, "PRODUCT_URI", product_uri)
    _sub(info, "PROCESSING_LEVEL", "Level-2A")
    _sub(info, "PRODUCT_TYPE", "S2MSI2A")
    _sub(info, "PROCESSING_BASELINE", baseline)
    _sub(info, "GENERATION_TIME", _iso(sensing))
    datatake = _sub(info, "Datatake", datatakeIdentifier=f"G{spacecraft}_{sensing}_000001_{n_baseline}")
    _sub(datatake, "SPACECRAFT_NAME", f"Sentinel-2{spacecraft[-1]}")
    _sub(datatake, "DATATAKE_TYPE", "INS-NOBS")
    _sub(datatake, "DATATAKE_SENSING_START", _iso(sensing))
    _sub(datatake, "SENSING_ORBIT_NUMBER", int(orbit[1:]))
    _sub(datatake, "SENSING_ORBIT_DIRECTION", "DESCENDING")
    _sub(_sub(info, "Query_Options"), "PRODUCT_FORMAT", "SAFE_COMPACT")
    granule_element = _sub(_sub(_sub(info, "Product_Organisation"), "Granule_List"), "Granule",
                           datastripIdentifier=datastrip_id, granuleIdentifier=granule_id, imageFormat="JPEG2000")
    for stem in files.values():
        _sub(granule_element, "IMAGE_FILE", f"GRANULE/{granule}/IMG_DATA/R{RESOLUTION}m/{stem}")
    characteristics = _sub(general, "Product_Image_Characteristics")
    for text, index in (("NODATA", 0), ("SATURATED", 65535)):
        special = _sub(characteristics, "Special_Values")
        _sub(special, "SPECIAL_VALUE_TEXT", text)
        _sub(special, "SPECIAL_VALUE_INDEX", index)
    quantifications = _sub(characteristics, "QUANTIFICATION_VALUES_LIST")
    _sub(quantifications, "BOA_QUANTIFICATION_VALUE", quantification, unit="none")
    _sub(quantifications, "AOT_QUANTIFICATION_VALUE", "1000.0", unit="none")
    _sub(quantifications, "WVP_QUANTIFICATION_VALUE", "1000.0", unit="cm")
    if tuple(int(part) for part in baseline.split(".")) >= OFFSET_BASELINE:
        offsets = _sub(characteristics, "BOA_ADD_OFFSET_VALUES_LIST")
        for band_id in BAND_IDS.values():
            _sub(offsets, "BOA_ADD_OFFSET", boa_offset, band_id=str(band_id))
    footprint = _sub(_sub(_sub(root, "n1:Geometric_Info"), "Product_Footprint"), "Product_Footprint")
    _sub(_sub(footprint, "Global_Footprint"), "EXT_POS_LIST", _footprint(transform, width, height, crs))
    mtd = safe / "MTD_MSIL2A.xml"
    _write_xml(root, mtd)
    return mtd
