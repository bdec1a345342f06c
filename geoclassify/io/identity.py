"""What identifies an input file between two runs: its path, size and modification time."""

from __future__ import annotations

import os
import re


def is_local_path(path: str) -> bool:
    """Whether `path` names a file of the local file system: not a GDAL virtual path (/vsi...), a URL, the XML
    text of a VRT nor a driver's subdataset name (SENTINEL2_L2A:/path/MTD_MSIL2A.xml:10m:EPSG_32632)."""
    return not (path.startswith("/vsi") or "://" in path or path.lstrip().startswith("<")
                or re.match(r"[A-Z][A-Z0-9_]+:", path) is not None)


def file_identity(path: str | os.PathLike) -> dict:
    """Absolute path, size and modification time: enough to tell a changed input from the same one."""
    path = str(path)
    if not is_local_path(path):
        return {"path": path}
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
