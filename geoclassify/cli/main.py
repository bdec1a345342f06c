"""The `geoclassify` command group: global options, logging and error handling."""

from __future__ import annotations

import logging

import click

from geoclassify.cli.options import clear_errors, verbosity_options
from geoclassify.version import __version__

log = logging.getLogger("geoclassify")


class GeoclassifyGroup(click.Group):
    """Turns GeoclassifyError into one clear line on stderr and exit code 1 (traceback with -v)."""

    def invoke(self, ctx: click.Context):
        """Run the subcommand; a GeoclassifyError exits 1 with its message, Ctrl-C exits 130."""
        with clear_errors(ctx, "Interrupted: the output was not written."):
            return super().invoke(ctx)


def _set_progress_format(ctx: click.Context, param: click.Parameter, value: str) -> None:
    ctx.find_root().ensure_object(dict)["progress_format"] = value


@click.group(cls=GeoclassifyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="geoclassify")
@click.option("--progress-format", type=click.Choice(["bar", "json"]), default="bar", show_default=True,
              expose_value=False, callback=_set_progress_format,
              help="Progress on stderr as a bar, or as JSON lines for programs (the QGIS plugin).")
@verbosity_options
def cli() -> None:
    """Classify land in satellite and aerial scenes of any size."""


def _register() -> None:
    from geoclassify.cli.benchmark import benchmark
    from geoclassify.cli.evaluate import evaluate
    from geoclassify.cli.export import export
    from geoclassify.cli.info import info
    from geoclassify.cli.models import models
    from geoclassify.cli.polygonize import polygonize
    from geoclassify.cli.predict import predict
    from geoclassify.cli.quantize import quantize
    from geoclassify.cli.train import train

    for command in (predict, polygonize, train, evaluate, benchmark, export, quantize, info, models):
        cli.add_command(command)


_register()
