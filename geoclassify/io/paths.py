"""Paths that clash and folders that cannot be written, refused before any work starts.

An output must never be an input: the scene (and every file GDAL reads for it: a VRT's sources, sidecars), the
model, or any other output, counting every file an output writes (its .aux.xml sidecar, the partial files of a
resumable run, a Shapefile's side files). Two paths name the same file when they resolve to the same real path
(symbolic links, `./a.tif` and `a.tif`) or, for files that exist, when they are the same file on disk (hard links,
case-insensitive file systems). Two paths that do not exist yet and differ only in letter case are taken as the
same file too: on a case-insensitive file system they are.
"""

from __future__ import annotations

import functools
import itertools
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from geoclassify.errors import OutputError
from geoclassify.io.identity import is_local_path
from geoclassify.io.stac import is_stac_item

Key = tuple[str, object]
VRT_MAGIC = b"<VRTDataset"
RASTER_SIDECARS = (".aux.xml", ".ovr", ".msk")  # files GDAL reads beside a raster when they exist


class PathClashError(OutputError):
    """An output resolves to the same file as an input or as another output."""


@dataclass(frozen=True)
class Source:
    """An input file and what it is to the user, e.g. ("the scene a.tif", a.tif)."""

    role: str
    path: Path


@dataclass(frozen=True)
class Target:
    """An output (`role` as the user names it, e.g. "classes output") and every file it writes, `path` first."""

    role: str
    path: Path
    files: tuple[Path, ...]

    def __str__(self) -> str:
        return f"the {self.role} {self.path}"


def file_keys(path: Path) -> Iterator[Key]:
    """What identifies the file at `path`: its real path, and for an existing file its device and inode; a
    missing file in a case-insensitive folder also by its real path in lower case."""
    real = os.path.realpath(path)
    yield "path", real
    try:
        st = os.stat(real)
    except OSError:
        if case_insensitive(os.path.dirname(real)):
            yield "fold", real.casefold()
    else:
        yield "inode", (st.st_dev, st.st_ino)


@functools.lru_cache(maxsize=256)
def case_insensitive(folder: str) -> bool:
    """Whether names in `folder` ignore letter case: told by an entry found under its name in the other case;
    without such an entry, by the platform (macOS and Windows file systems usually ignore case)."""
    try:
        with os.scandir(folder) as entries:
            for entry in itertools.islice(entries, 64):
                other = entry.name.swapcase()
                if other != entry.name:
                    return os.path.lexists(os.path.join(folder, other))
    except OSError:
        pass
    return sys.platform in ("darwin", "win32")


def raster_files(path: str | os.PathLike) -> list[Path]:
    """Every local file GDAL reads for the raster at `path`: the file itself, its sidecars and, through VRTs (nested
    ones too), their sources with their sidecars. Just `path` when GDAL cannot open it (it is refused later)."""
    import rasterio
    from rasterio.errors import RasterioError

    first = str(path)
    found: dict[str, Path] = {}
    todo = [first]
    while todo:
        name = todo.pop()
        if not is_local_path(name) or os.path.realpath(name) in found:
            continue
        found[os.path.realpath(name)] = Path(name)
        if name != first and not is_vrt(name):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with rasterio.open(name) as ds:
                    todo.extend(ds.files)
        except (RasterioError, OSError):
            pass
    return list(found.values())


def is_vrt(path: str) -> bool:
    """Whether `path` is a GDAL VRT file (whose sources GDAL reads in turn)."""
    try:
        with open(path, "rb") as f:
            return f.read(64).lstrip().startswith(VRT_MAGIC)
    except OSError:
        return False


def scene_sources(scene: str | os.PathLike | tuple[str, ...], role: str = "scene") -> list[Source]:
    """The scene and every other file read for it, each as an input that no output may overwrite: the files GDAL
    reads (a VRT's sources, a STAC item's local assets, each raster of a stack), and beside each raster the
    sidecars GDAL would read with it, existing or not (an output there would change what the raster reads as).
    Remote scenes (URLs) have none."""
    if isinstance(scene, tuple):
        return [s for part in scene for s in scene_sources(part, role)]
    if not is_local_path(str(scene)):
        return []
    first = Path(scene)
    out = [Source(f"{role} {scene}", first)]
    rasters = stac_assets(str(scene)) if is_stac_item(str(scene)) else [str(scene)]
    for raster in rasters:
        for f in raster_files(raster):
            if f != first:
                out.append(Source(f"file {f} that the {role} {scene} reads", f))
            if not str(f).endswith(RASTER_SIDECARS):
                out += [Source(f"sidecar {f}{ext} that GDAL reads with the {role} {scene}", Path(f"{f}{ext}"))
                        for ext in RASTER_SIDECARS]
    return out


def stac_assets(item: str) -> list[str]:
    """The local raster files a STAC item's band assets name (none when it cannot be read: refused later)."""
    from geoclassify.errors import GeoclassifyError
    from geoclassify.io.stac import item_bands

    try:
        bands, _ = item_bands(item)
    except GeoclassifyError:
        return []
    return [b.path for b in bands if is_local_path(b.path)]


def refuse_clashes(sources: Iterable[Source], targets: Iterable[Target]) -> None:
    """Refuse an output that writes a file that is an input or a file of another output.

    Raises:
        PathClashError: one line naming the output, the file and what it already is (never "use --overwrite":
            no option makes that right).
    """
    owners: dict[Key, tuple[Source | Target, Path]] = {}
    for source in sources:
        for key in file_keys(source.path):
            owners.setdefault(key, (source, source.path))
    for target in targets:
        mine: dict[Key, tuple[Source | Target, Path]] = {}
        for written in target.files:
            for key in file_keys(written):
                if key in owners:
                    raise PathClashError(clash_message(target, written, *owners[key]))
                mine[key] = (target, written)
        owners.update(mine)


def clash_message(target: Target, written: Path, owner: Source | Target, owned: Path) -> str:
    """One line: which file of `target` is which file of `owner`, and what to do."""
    what = f"{target} is" if written == target.path else f"{target} would write {written}, which is"
    same = "" if str(owned) == str(written) else " (the same file)"
    if isinstance(owner, Source):
        return (f"{what} the {owner.role}{same}; an output must never replace an input: give the {target.role} "
                "another name or folder")
    other = str(owner) if owned == owner.path else f"{owned}, written by {owner}"
    return f"{what} {other}{same}; give each output its own file"


def vector_target(path: Path, role: str = "vector output") -> Target:
    """A vector output and the files it writes (a Shapefile's side files too)."""
    from geoclassify.vector.writers import SHAPEFILE_PARTS

    side = [path.with_suffix(ext) for ext in SHAPEFILE_PARTS] if path.suffix.lower() == ".shp" else []
    return Target(role, path, (path, *(p for p in side if p != path)))


def check_folder(target: Target, create: bool = False) -> None:
    """Refuse an output whose folder is missing (unless `create`: the nearest existing folder above it is checked),
    is not a folder, or cannot be written.

    Raises:
        OutputError: one line naming the folder and the output.
    """
    folder = target.path.parent
    if create:
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
    elif not folder.exists():
        raise OutputError(f"directory {folder} for the {target.role} {target.path} does not exist; create it first")
    if not folder.is_dir():
        raise OutputError(f"{folder} is not a folder: the {target.role} {target.path} cannot be written there")
    why = None
    if not os.access(folder, os.W_OK | os.X_OK):
        why = "read-only file system" if read_only_mount(folder) else "permission denied"
    else:
        try:  # what access() cannot tell (root, some file systems): a file made and gone at once, no name left
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            why = (exc.strerror or str(exc)).lower()
    if why is not None:
        raise OutputError(f"cannot write in {folder} ({why}), the folder of the {target.role} {target.path}; "
                          "choose a writable folder")


def read_only_mount(folder: Path) -> bool:
    """Whether `folder` is on a file system mounted read-only."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False
