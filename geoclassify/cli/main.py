"""The `geoclassify` command group: global options, logging and error handling."""

from __future__ import annotations

import logging
import sys
import traceback

import click

from geoclassify import __version__
from geoclassify.errors import GeoclassifyError

log = logging.getLogger("geoclassify")


class GeoclassifyGroup(click.Group):
    """Turns GeoclassifyError into one clear line on stderr and exit code 1 (traceback with -v)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GeoclassifyError as exc:
            if ctx.obj and ctx.obj.get("verbose", 0) > 0:
                traceback.print_exc()
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted: nothing was written.", err=True)
            ctx.exit(130)


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s" if verbose else "%(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


@click.group(cls=GeoclassifyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="geoclassify")
@click.option("-v", "--verbose", count=True, help="More log output; tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress bar.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Classify land in satellite and aerial scenes of any size."""
    ctx.ensure_object(dict)
    ctx.obj.update(verbose=verbose, quiet=quiet)
    setup_logging(verbose, quiet)


def _register() -> None:
    from geoclassify.cli.info import info
    from geoclassify.cli.models import models
    from geoclassify.cli.predict import predict

    for command in (predict, info, models):
        cli.add_command(command)


_register()
