"""Write failures as one line that names the file and the cause: "no space left on device while writing FILE".

GDAL does not raise every failed write: blocks are written from its cache when a dataset is flushed or closed,
and rasterio's `close()` only logs a failed flush. `gdal_checked` reads GDAL's last-error state around such calls
and raises instead. GDAL's own message ("TIFFAppendToStrip:Write error") seldom says why, so `write_cause` asks the
file system: the file gone, the folder read-only or full, else the C errno or GDAL's message.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Iterator

from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioError

from geoclassify.errors import OutputError

CE_FAILURE = 3  # CPLErr: CE_Failure, then CE_Fatal
LOW_SPACE = 1 << 20  # less free space than this after a failed write: the disk is full
# what rasterio raises when GDAL fails; TypeError: opening a damaged or vanished file in "r+" mode (rasterio 1.4)
GDAL_ERRORS = (OSError, RasterioError, CPLE_BaseError, TypeError, ValueError)
CAUSES = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG, errno.ENOENT, errno.ESTALE)


def wheel_library(name: str) -> Path | None:
    """A library bundled in rasterio's wheel (rasterio.libs), None for a rasterio built on the system's GDAL."""
    import rasterio

    libs = Path(rasterio.__file__).parent.parent / "rasterio.libs"
    found = sorted(libs.glob(f"{name}-*.so*")) if libs.is_dir() else []
    return found[0] if found else None


def silence_libtiff() -> None:
    """Switch off libtiff's own printer of errors that reach no GDAL handler (a failed write prints
    "_tiffWriteProc: No space left on device." on stderr past GDAL's logging): the failure is reported as one
    line by gdal_checked instead. Only for the libtiff of rasterio's wheel."""
    path = wheel_library("libtiff")
    if path is None:
        return
    try:
        tiff = ctypes.CDLL(str(path))
        tiff.TIFFSetErrorHandler.restype = ctypes.c_void_p
        tiff.TIFFSetErrorHandler.argtypes = [ctypes.c_void_p]
        tiff.TIFFSetErrorHandler(None)
    except (OSError, AttributeError):
        pass


@cache
def gdal_library() -> ctypes.CDLL | None:
    """The GDAL library rasterio runs on (the one in its wheel, else the system's), for its error state."""
    silence_libtiff()
    found = [p for p in [wheel_library("libgdal")] if p is not None]
    name = str(found[0]) if found else ctypes.util.find_library("gdal")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.CPLGetLastErrorType.restype = ctypes.c_int
        lib.CPLGetLastErrorMsg.restype = ctypes.c_char_p
    except (OSError, AttributeError):
        return None
    return lib


def c_errno() -> int:
    """The calling thread's C errno as the last failed system call left it (a hint, not proof)."""
    try:
        libc = ctypes.CDLL(None)
        libc.__errno_location.restype = ctypes.POINTER(ctypes.c_int)
        return int(libc.__errno_location().contents.value)
    except (OSError, AttributeError):
        return 0


def write_cause(path: Path, error: BaseException | str | None = None) -> str:
    """Why writing `path` failed, in words: an OSError's errno first, then what the file system shows."""
    if isinstance(error, OSError) and error.errno and not isinstance(error, OutputError):
        return "the file was removed" if error.errno == errno.ENOENT else os.strerror(error.errno).lower()
    if not path.exists():
        return "the file was removed"
    try:
        fs = os.statvfs(path.parent)
    except OSError:
        fs = None
    if fs is not None and fs.f_flag & os.ST_RDONLY:
        return os.strerror(errno.EROFS).lower()
    if fs is not None and fs.f_bavail * fs.f_frsize < LOW_SPACE:
        return os.strerror(errno.ENOSPC).lower()
    code = c_errno()
    if code in CAUSES and code not in (errno.ENOENT, errno.ESTALE):  # those two are left over by many a stat
        return os.strerror(code).lower()
    return str(error) if error else "an I/O error"


def write_error(path: Path, error: BaseException | str | None = None, doing: str = "writing",
                written: Path | None = None) -> OutputError:
    """The one-line error of a failed write of `path` (an OutputError is passed on as it is); `written`: the file
    really written, when that is a temporary one (its file system is asked for the cause)."""
    if isinstance(error, OutputError):
        return error
    return OutputError(f"{write_cause(Path(written or path), error)} while {doing} {path}")


@contextmanager
def gdal_checked(path: Path, doing: str = "writing") -> Iterator[None]:
    """Raise an OutputError naming `path` and the cause when the block fails: an exception, or a GDAL error
    recorded without one (a flush or close that could not write its blocks)."""
    lib = gdal_library()
    if lib is not None:
        lib.CPLErrorReset()
    try:
        yield
    except GDAL_ERRORS as exc:
        raise write_error(path, exc, doing) from exc
    if lib is not None and lib.CPLGetLastErrorType() >= CE_FAILURE:
        message = (lib.CPLGetLastErrorMsg() or b"").decode(errors="replace")
        lib.CPLErrorReset()
        raise write_error(path, message or None, doing)
