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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

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
    """`name` as an SQL identifier in double quotes (inner quotes doubled)."""
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


@dataclass(frozen=True)
class LayerTable:
    """A layer's table in an open GeoPackage: its geometry column, SRS id and declared geometry type."""

    con: sqlite3.Connection
    name: str
    geometry: str
    srs_id: int
    kind: str


@contextmanager
def layer_without_index_triggers(path: Path, layer: str) -> Iterator[LayerTable]:
    """One transaction on the layer's table with the spatial index's triggers dropped (they call GDAL's SQL
    functions, unknown to plain SQLite), and created again before the commit; rolled back on error."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("BEGIN")
        table = LayerTable(con, layer, *geometry_column(con, layer))
        triggers = rtree_triggers(con, layer, table.geometry)
        for name, _ in triggers:
            con.execute(f"DROP TRIGGER {quoted(name)}")
        yield table
        for _, sql in triggers:
            con.execute(sql)
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def move_geometry_last(path: Path, layer: str) -> None:
    """Make the geometry the last column of the (still empty) layer table: SQLite can then insert a
    zero-filled geometry blob without building it in memory (it must expand one followed by other columns)."""
    with layer_without_index_triggers(path, layer) as table:
        table.con.execute(f"ALTER TABLE {quoted(layer)} DROP COLUMN {quoted(table.geometry)}")
        table.con.execute(f"ALTER TABLE {quoted(layer)} ADD COLUMN {quoted(table.geometry)} {table.kind}")


def append_large_features(path: Path, layer: str, names: list[str], features: list[LargeFeature]) -> None:
    """Append `features` (attribute columns named `names`) to `layer` of the GeoPackage at `path`, with their
    spatial index rows (written here, the index's triggers being dropped meanwhile)."""
    release_free_memory()
    with layer_without_index_triggers(path, layer) as table:
        con, rtree = table.con, f"rtree_{layer}_{table.geometry}"
        has_index = con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (rtree,)).fetchone() is not None
        columns = ", ".join(quoted(n) for n in [*names, table.geometry])
        marks = ", ".join("?" * len(names))
        for feature in features:
            envelope = feature.envelope()
            header = blob_header(table.srs_id, envelope)
            values = [column[0].as_py() for column in feature.columns]
            cursor = con.execute(f"INSERT INTO {quoted(layer)} ({columns}) VALUES ({marks}, zeroblob(?))",
                                 [*values, len(header) + wkb_size(feature.rings)])
            fid = cursor.lastrowid
            assert fid is not None  # an INSERT sets it
            if has_index:
                con.execute(f"INSERT INTO {quoted(rtree)} VALUES (?, ?, ?, ?, ?)", (fid, *envelope))
            extend_extent(con, layer, envelope)
            with con.blobopen(layer, table.geometry, fid) as blob:
                blob.write(header)
                for piece in wkb_pieces(feature.rings, feature.transform):
                    blob.write(piece)


def extend_extent(con: sqlite3.Connection, layer: str, envelope: tuple[float, float, float, float]) -> None:
    """Grow the layer's extent in gpkg_contents to hold `envelope`."""
    min_x, max_x, min_y, max_y = envelope
    con.execute("UPDATE gpkg_contents SET min_x = min(coalesce(min_x, ?1), ?1), max_x = max(coalesce(max_x, ?2), ?2), "
                "min_y = min(coalesce(min_y, ?3), ?3), max_y = max(coalesce(max_y, ?4), ?4) WHERE table_name = ?5",
                (min_x, max_x, min_y, max_y, layer))
