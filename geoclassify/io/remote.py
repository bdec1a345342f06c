"""Remote rasters: URLs as GDAL virtual file system paths, and the GDAL settings that make reading windows of a
remote COG cheap.

Sources: GDAL's virtual file systems (https://gdal.org/en/stable/user/virtual_file_systems.html) and its
configuration options (https://gdal.org/en/stable/user/configoptions.html).
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext

import rasterio

from geoclassify.io.identity import is_local_path

# Set for the reads of remote rasters only (remote_read_env: rasterio.Env is thread-local), never process-wide:
# EMPTY_DIR would hide a local raster's sidecars (.msk, .aux.xml) from GDAL. A setting the user gives in the
# environment wins.
REMOTE_READ_SETTINGS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # no directory listing (one request or more) on open
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",  # adjacent blocks of a window in one range request
    "GDAL_HTTP_MULTIPLEX": "YES",  # HTTP/2: the block requests of a read on one connection, in parallel
    "GDAL_HTTP_VERSION": "2",  # HTTP/2 where the server speaks it (HTTP/1.1 otherwise)
    "CPL_VSIL_CURL_CACHE_SIZE": str(64 * 2**20),  # bytes of downloaded ranges kept per process (GDAL's default 16 MB)
    "GDAL_INGESTED_BYTES_AT_OPEN": "32768",  # the first request reads the COG's header and IFDs at once
    "GDAL_HTTP_MAX_RETRY": "3",  # transient 429/502/503/504: retried, with
    "GDAL_HTTP_RETRY_DELAY": "1",  # seconds, doubled each time
}
VSI_NETWORK = ("/vsicurl/", "/vsis3/", "/vsigs/", "/vsiaz/", "/vsiadls/", "/vsioss/", "/vsiswift/", "/vsiwebhdfs/")
SCHEMES = {"https://": "/vsicurl/", "http://": "/vsicurl/", "s3://": "/vsis3/", "gs://": "/vsigs/",
           "az://": "/vsiaz/"}


def is_url(text: str) -> bool:
    """True for a URL geoclassify reads remotely (https, http, s3, gs, az)."""
    return text.startswith(tuple(SCHEMES))


def gdal_path(text: str) -> str:
    """The path GDAL opens for `text`, the same in any process and folder: a URL through its virtual file system
    (https://host/a.tif -> /vsicurl/https://host/a.tif, s3://bucket/key -> /vsis3/bucket/key), a local path (or
    file:// URL) made absolute, anything else (/vsi paths, subdataset names) unchanged."""
    for scheme, vsi in SCHEMES.items():
        if text.startswith(scheme):
            return vsi + (text if vsi == "/vsicurl/" else text[len(scheme):])
    if text.startswith("file://"):  # a STAC href to a local file
        text = text[len("file://"):]
    return os.path.abspath(text) if is_local_path(text) else text


def reads_remote(path: str) -> bool:
    """True when GDAL reads `path` (a path, or a VRT's XML naming its sources) over the network."""
    return any(vsi in path for vsi in VSI_NETWORK)


def remote_read_env(path: str) -> AbstractContextManager:
    """REMOTE_READ_SETTINGS for this thread, for the length of a `with` block, when `path` reads anything remote
    (a do-nothing context otherwise); options the user set in the environment are left as they are."""
    if not reads_remote(path):
        return nullcontext()
    return rasterio.Env(**{k: v for k, v in REMOTE_READ_SETTINGS.items() if k not in os.environ})
