"""`geoclassify polygonize MASK -o FILE`, and the polygon options that `predict --vector` shares."""

from __future__ import annotations

import functools
import logging
from typing import Callable

import click

from geoclassify.cli.options import progress_reporter, verbosity_options
from geoclassify.vector.formats import FORMATS

log = logging.getLogger("geoclassify")


def parse_names(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...] | None:
    """'agricultural,water' -> ('agricultural', 'water')."""
    if value is None:
        return None
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    if not names:
        raise click.BadParameter(f"expected comma-separated class names, got {value!r}")
    return names


POLYGON_OPTIONS = (
    click.option("--classes", callback=parse_names, help="Only these classes (comma-separated names)."),
    click.option("--min-area", type=click.FloatRange(min=0), help="Sieve: merge regions under this many m² into "
                 "their largest neighbour before vectorizing."),
    click.option("--min-area-pixels", type=click.IntRange(min=0), help="Sieve threshold in pixels instead of m²."),
    click.option("--simplify", type=click.FloatRange(min=0), help="Simplify the whole coverage (tolerance in m); "
                 "neighbours keep sharing their edges."),
    click.option("--layer", help="Layer name (default: the output file's name)."),
    click.option("--format", "vector_format", type=click.Choice(sorted(FORMATS)),
                 help="Vector format (default: from the extension; GeoPackage without one)."),
)
POLYGON_PARAMS = ("classes", "min_area", "min_area_pixels", "simplify", "layer", "vector_format")


def polygon_options(command: Callable) -> Callable:
    """The polygon options, passed to the command as they are."""
    for option in reversed(POLYGON_OPTIONS):
        command = option(command)
    return command


def vector_output_options(command: Callable) -> Callable:
    """--vector FILE and the polygon options; the command gets `vector` (the path or None) and `polygons` (a
    PolygonizeOptions or None)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        output = kwargs.pop("vector")
        settings = {name: kwargs.pop(name) for name in POLYGON_PARAMS}
        given = [name for name, value in settings.items() if value is not None]
        if given and output is None:
            flag = "--" + given[0].replace("vector_", "").replace("_", "-")
            raise click.UsageError(f"{flag} needs --vector FILE")
        settings["format"] = settings.pop("vector_format")
        polygons = None
        if output:  # the polygon stack (pyarrow, shapely, scipy's graphs) is imported only when polygons are asked
            from geoclassify.vector.polygonize import PolygonizeOptions

            polygons = PolygonizeOptions(**settings)
        return command(*args, vector=output, polygons=polygons, **kwargs)

    vector = click.option("--vector", type=click.Path(),
                          help="Also write the classes as polygons here (.gpkg, .geojson, .fgb, .parquet, .shp); "
                               "with several scenes, a folder (NAME_classes.gpkg, or the --format's extension).")
    return vector(polygon_options(wrapper))


@click.command()
@click.argument("mask", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Vector file to write.")
@polygon_options
@click.option("--probabilities", type=click.Path(dir_okay=False),
              help="Per-class probabilities raster (from predict): adds mean_confidence.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("--block-rows", type=click.IntRange(min=1), help="Rows read per block (default: about 16 Mpx).")
@verbosity_options
@click.pass_context
def polygonize(ctx: click.Context, mask: str, output: str, classes, min_area, min_area_pixels, simplify, layer,
               vector_format, probabilities, overwrite: bool, block_rows) -> None:
    """Turn the class raster MASK into polygons: one feature per connected region of a class."""
    from pathlib import Path

    from geoclassify.io.paths import check_folder, refuse_clashes, scene_sources, vector_target
    from geoclassify.vector.polygonize import PolygonizeOptions, log_polygons, polygonize_raster

    if min_area is not None and min_area_pixels is not None:
        raise click.BadParameter("give --min-area or --min-area-pixels, not both", param_hint="--min-area-pixels")
    options = PolygonizeOptions(classes=classes, min_area=min_area, min_area_pixels=min_area_pixels,
                                simplify=simplify, probabilities=probabilities, layer=layer, format=vector_format,
                                overwrite=overwrite, block_rows=block_rows)
    target = vector_target(Path(output))
    inputs = scene_sources(mask, "raster") + (scene_sources(probabilities, "probabilities raster")
                                              if probabilities else [])
    refuse_clashes(inputs, [target])
    check_folder(target)
    log_polygons(polygonize_raster(mask, output, options, progress_reporter(ctx)))
