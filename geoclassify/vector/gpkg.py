"""Very large polygons appended to a GeoPackage written by GDAL, their geometry streamed into SQLite.

GDAL holds a feature's geometry about three times over while it writes it (WKB, its own geometry, the
GeoPackage blob); for a region of tens of millions of vertices that is gigabytes. These features are held
back while GDAL writes the rest and are then appended here: the row is inserted with a zero-filled geometry
blob of the right size, which is then filled piece by piece with SQLite's incremental blob I/O (GeoPackage
header, then WKB made from the rings a few megabytes at a time). The spatial index row and the layer extent
are written alongside, all in one transaction.
"""

from __future__ import annotations

import ctypes
import sqlite3
import struct
from pathlib import Path

from geoclassify.vector.attributes import LargeFeature
from geoclassify.vector.rings import wkb_pieces, wkb_size

GPKG_FLAGS = 0b0000_0011  # little-endian, envelope [min x, max x, min y, max y]


def release_free_memory() -> None:
    """Hand the heap's free pages back to the system (glibc), so that the streaming phase's high-water mark is
    not added to the large features' own cost."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def blob_header(srs_id: int, envelope: tuple[float, float, float, float]) -> bytes:
    """GeoPackage geometry header: magic, version 0, flags, SRS id, envelope."""
    return b"GP" + struct.pack("<BBi4d", 0, GPKG_FLAGS, srs_id, *envelope)


def rtree_triggers(con: sqlite3.Connection, layer: str, geometry: str) -> list[tuple[str, str]]:
    """(name, SQL) of the spatial index's triggers on the layer's table."""
    prefix = f"rtree_{layer}_{geometry}_"
    rows = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (layer,))
    return [(name, sql) for name, sql in rows if name.startswith(prefix)]


def geometry_column(con: sqlite3.Connection, layer: str) -> tuple[str, int, str]:
    """The layer's geometry column, its SRS id and its declared type."""
    return con.execute("SELECT column_name, srs_id, geometry_type_name FROM gpkg_geometry_columns "
                       "WHERE table_name = ?", (layer,)).fetchone()


def move_geometry_last(path: Path, layer: str) -> None:
    """Make the geometry the last column of the (still empty) layer table: SQLite can then insert a
    zero-filled geometry blob without building it in memory (it must expand one followed by other columns)."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        geometry, _, kind = geometry_column(con, layer)
        triggers = rtree_triggers(con, layer, geometry)
        con.execute("BEGIN")
        for name, _ in triggers:
            con.execute(f"DROP TRIGGER {quoted(name)}")
        con.execute(f"ALTER TABLE {quoted(layer)} DROP COLUMN {quoted(geometry)}")
        con.execute(f"ALTER TABLE {quoted(layer)} ADD COLUMN {quoted(geometry)} {kind}")
        for _, sql in triggers:
            con.execute(sql)
        con.execute("COMMIT")
    finally:
        con.close()


def append_large_features(path: Path, layer: str, names: list[str], features: list[LargeFeature]) -> None:
    """Append `features` (attribute columns named `names`) to `layer` of the GeoPackage at `path`."""
    release_free_memory()
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("BEGIN")
        geometry, srs_id, _ = geometry_column(con, layer)
        rtree = f"rtree_{layer}_{geometry}"
        triggers = rtree_triggers(con, layer, geometry)  # they call GDAL's SQL functions: the index row is ours
        for name, _ in triggers:
            con.execute(f"DROP TRIGGER {quoted(name)}")
        has_index = con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (rtree,)).fetchone() is not None
        columns = ", ".join(quoted(n) for n in [*names, geometry])
        marks = ", ".join("?" * len(names))
        for feature in features:
            envelope = feature.envelope()
            header = blob_header(srs_id, envelope)
            values = [column[0].as_py() for column in feature.columns]
            cursor = con.execute(f"INSERT INTO {quoted(layer)} ({columns}) VALUES ({marks}, zeroblob(?))",
                                 [*values, len(header) + wkb_size(feature.rings)])
            fid = cursor.lastrowid
            if has_index:
                con.execute(f"INSERT INTO {quoted(rtree)} VALUES (?, ?, ?, ?, ?)", (fid, *envelope))
            extend_extent(con, layer, envelope)
            with con.blobopen(layer, geometry, fid) as blob:
                blob.write(header)
                for piece in wkb_pieces(feature.rings, feature.transform):
                    blob.write(piece)
        for _, sql in triggers:
            con.execute(sql)
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def extend_extent(con: sqlite3.Connection, layer: str, envelope: tuple[float, float, float, float]) -> None:
    """Grow the layer's extent in gpkg_contents to hold `envelope`."""
    min_x, max_x, min_y, max_y = envelope
    con.execute("UPDATE gpkg_contents SET min_x = min(coalesce(min_x, ?1), ?1), max_x = max(coalesce(max_x, ?2), ?2), "
                "min_y = min(coalesce(min_y, ?3), ?3), max_y = max(coalesce(max_y, ?4), ?4) WHERE table_name = ?5",
                (min_x, max_x, min_y, max_y, layer))
