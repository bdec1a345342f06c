"""Polygonize speed and memory: geoclassify beside GDAL's own polygonize, and a one-gigapixel run.

The class raster is a real prediction (the bundled default model on the demo NAIP scene, --stride 2)
mirror-tiled to the wanted size (see make_large_scene.py), so its regions are real predicted fields; regions
that reach the source's edge continue into the mirrored copy, so some span the whole raster.
Every measurement runs in its own process, which reports its wall time and peak RSS (with its children's:
`gdal_polygonize_py` runs Debian's /usr/bin/gdal_polygonize.py, from gdal-bin and python3-gdal).

    .venv/bin/python benchmarks/bench_polygonize.py build --size 8192
    .venv/bin/python benchmarks/bench_polygonize.py compare --size 8192 --repeat 3
    .venv/bin/python benchmarks/bench_polygonize.py build --size 32768
    .venv/bin/python benchmarks/bench_polygonize.py run --size 32768
    .venv/bin/python benchmarks/bench_polygonize.py run --size 32768 --kinds geoclassify_non_agricultural
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyogrio.raw
import rasterio
import shapely
from make_large_scene import mirror_index
from rasterio import features

from geoclassify.vector.polygonize import PolygonizeOptions, polygonize_raster

ROOT = Path(__file__).resolve().parent.parent
SCENES = ROOT / "benchmarks" / "scenes"
GDAL_POLYGONIZE = "/usr/bin/gdal_polygonize.py"  # Debian gdal-bin + python3-gdal (installed with QGIS)
SOURCE = SCENES / "naip_prediction_s2.tif"
SOURCE_COMMAND = ["geoclassify", "-q", "predict", "examples/data/naip_farmland.tif", "-o", str(SOURCE), "--stride", "2"]


def scene_path(size: int) -> Path:
    return SCENES / f"classes_{size}.tif"


def build(size: int) -> None:
    """Mirror-tile the real prediction to size x size pixels, written in strips (bounded memory)."""
    if not SOURCE.exists():
        subprocess.run([str(Path(sys.executable).parent / SOURCE_COMMAND[0]), *SOURCE_COMMAND[1:]], cwd=ROOT,
                       check=True)
    with rasterio.open(SOURCE) as src:
        data, profile, tags = src.read(1), src.profile, src.tags(1)
    profile.update(width=size, height=size, tiled=True, blockxsize=512, blockysize=512, compress="deflate",
                   BIGTIFF="YES")
    cols = mirror_index(size, data.shape[1])
    start = time.perf_counter()
    with rasterio.open(scene_path(size), "w", **profile) as dst:
        dst.update_tags(1, **tags)
        for row in range(0, size, 512):
            n = min(512, size - row)
            dst.write(data[mirror_index(row + n, data.shape[0])[row:]][:, cols], 1, window=((row, row + n), (0, size)))
    print(f"wrote {scene_path(size)} ({size}x{size}, {time.perf_counter() - start:.0f} s)")


def measure_gdal(raster: Path, out: Path) -> int:
    """GDAL's polygonize over the whole raster in memory (rasterio.features.shapes), every shape consumed."""
    with rasterio.open(raster) as src:
        data, valid, transform = src.read(1), src.read_masks(1) > 0, src.transform
    return sum(1 for _ in features.shapes(data, valid, connectivity=4, transform=transform))


def measure_gdal_gpkg(raster: Path, out: Path) -> int:
    """The same, plus shapely geometries and a GeoPackage with class_id: a minimal whole-raster tool."""
    with rasterio.open(raster) as src:
        data, valid, transform, crs = src.read(1), src.read_masks(1) > 0, src.transform, src.crs
    shapes = list(features.shapes(data, valid, connectivity=4, transform=transform))
    geoms = np.array([shapely.geometry.shape(g) for g, _ in shapes])
    pyogrio.raw.write(str(out), shapely.to_wkb(geoms), field_data=[np.array([v for _, v in shapes], np.int32)],
                  fields=["class_id"], geometry_type="Polygon", crs=crs.to_wkt(), driver="GPKG")
    return len(geoms)


def measure_gdal_polygonize(raster: Path, out: Path) -> int:
    """GDAL's own command-line tool (Debian's gdal_polygonize.py, 4-connected) writing a GeoPackage."""
    subprocess.run([GDAL_POLYGONIZE, "-q", str(raster), "-f", "GPKG", str(out), "polygons", "class_id"], check=True)
    return pyogrio.read_info(out)["features"]


def measure_geoclassify(raster: Path, out: Path, **options) -> int:
    return polygonize_raster(str(raster), str(out), PolygonizeOptions(overwrite=True, **options)).features


MEASURES = {
    "gdal_shapes": measure_gdal,
    "gdal_shapes_to_gpkg": measure_gdal_gpkg,
    "gdal_polygonize_py": measure_gdal_polygonize,
    "geoclassify": measure_geoclassify,
    "geoclassify_sieve_simplify": lambda r, o: measure_geoclassify(r, o, min_area_pixels=16, simplify=40.0),
    "geoclassify_non_agricultural": lambda r, o: measure_geoclassify(r, o, classes=("non_agricultural",)),
}


def child(kind: str, raster: Path, out: Path) -> None:
    """Run one measurement in this process and print it as JSON."""
    start = time.perf_counter()
    features = MEASURES[kind](raster, out)
    seconds = time.perf_counter() - start
    rss = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
    print(json.dumps({"kind": kind, "seconds": seconds, "features": features, "peak_rss_mib": rss}))


def measure(kind: str, size: int) -> dict:
    out = SCENES / f"bench_{kind}_{size}.gpkg"
    out.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, __file__, "_child", kind, str(scene_path(size)), str(out)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best_of(kinds: list[str], size: int, repeat: int) -> list[dict]:
    """Each run `repeat` times, interleaved (the machine is shared), keeping each kind's fastest."""
    runs = [measure(kind, size) for _ in range(repeat) for kind in kinds]
    return [min((r for r in runs if r["kind"] == kind), key=lambda r: r["seconds"]) for kind in kinds]


def table(rows: list[dict], size: int, repeat: int) -> None:
    base = rows[0]["seconds"]
    print(f"\n{size}x{size} = {size * size / 1e6:.0f} Mpx, best of {repeat}\n")
    print(f"| run | features | seconds | vs {rows[0]['kind']} | peak RSS (MiB) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['kind']} | {r['features']:,} | {r['seconds']:.1f} | {r['seconds'] / base:.2f}x | "
              f"{r['peak_rss_mib']:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["build", "compare", "run", "_child"])
    ap.add_argument("args", nargs="*")
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--kinds", default=",".join(MEASURES), help="which runs, comma-separated (run: one)")
    ap.add_argument("--repeat", type=int, default=3, help="compare: runs of each kind (the fastest counts)")
    args = ap.parse_args()
    if args.what == "_child":
        child(args.args[0], Path(args.args[1]), Path(args.args[2]))
    elif args.what == "build":
        build(args.size)
    elif args.what == "compare":
        table(best_of(args.kinds.split(","), args.size, args.repeat), args.size, args.repeat)
    else:
        print(json.dumps(measure(args.kinds if args.kinds in MEASURES else "geoclassify", args.size)))


if __name__ == "__main__":
    main()
