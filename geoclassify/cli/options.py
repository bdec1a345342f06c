"""Parsers for options shared by several commands."""

from __future__ import annotations

import logging
import sys
import traceback
from contextlib import contextmanager
from typing import Callable, Iterator

import click

log = logging.getLogger("geoclassify")


def setup_logging(verbose: int, quiet: bool) -> None:
    """Log to stderr: INFO by default, WARNING with -q, DEBUG with -vv."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s" if verbose else "%(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def _set_verbosity(ctx: click.Context, param: click.Parameter, value) -> None:
    obj = ctx.find_root().ensure_object(dict)
    if param.name == "verbose":
        obj["verbose"] = obj.get("verbose", 0) + value
    elif value:
        obj["quiet"] = True
    setup_logging(obj.get("verbose", 0), obj.get("quiet", False))


def verbosity_options(command: Callable) -> Callable:
    """-v/--verbose and -q/--quiet, accepted before or after the subcommand name."""
    command = click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_set_verbosity,
                           help="Only warnings and errors; no progress bar.")(command)
    return click.option("-v", "--verbose", count=True, expose_value=False, callback=_set_verbosity,
                        help="More log output; tracebacks on errors.")(command)


def is_quiet(ctx: click.Context) -> bool:
    return bool(ctx.find_root().ensure_object(dict).get("quiet"))


def is_verbose(ctx: click.Context) -> bool:
    return ctx.find_root().ensure_object(dict).get("verbose", 0) > 0


def parse_bands(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    """'3,2,1' -> (3, 2, 1); 1-based band indexes."""
    if value is None:
        return None
    try:
        bands = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated band numbers like 3,2,1, got {value!r}") from None
    if not bands or min(bands) < 1:
        raise click.BadParameter(f"band numbers start at 1, got {value!r}")
    return bands


@contextmanager
def clear_errors(ctx: click.Context, interrupted: str) -> Iterator[None]:
    """GeoclassifyError as one line on stderr and exit code 1 (traceback with -v); Ctrl-C as `interrupted`, 130."""
    from geoclassify.errors import GeoclassifyError

    try:
        yield
    except GeoclassifyError as exc:
        if is_verbose(ctx):
            traceback.print_exc()
        click.echo(f"Error: {exc}", err=True)
        ctx.exit(1)
    except KeyboardInterrupt:
        click.echo(interrupted, err=True)
        ctx.exit(130)
