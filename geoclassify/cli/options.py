"""Options shared by several commands (as decorators, like rasterio's rio/options.py), logging, progress and
error handling of the CLI."""

from __future__ import annotations

import logging
import sys
import traceback
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

import click

if TYPE_CHECKING:
    from geoclassify.progress import ProgressReporter

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
    """Whether -q was given, before or after the subcommand name."""
    return bool(ctx.find_root().ensure_object(dict).get("quiet"))


def is_verbose(ctx: click.Context) -> bool:
    """Whether -v was given at least once, before or after the subcommand name."""
    return ctx.find_root().ensure_object(dict).get("verbose", 0) > 0


def checked_by_config(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """An option callback that puts the value through PredictConfig's rule on field `name` (the one place each
    rule lives), as soon as click reads it: every command taking the option refuses a bad value the same way,
    as a usage error (exit code 2), whether or not it goes on to use the value."""

    def check(ctx: click.Context, param: click.Parameter, value):
        if value is None:
            return None
        from geoclassify.inference.config import PredictConfig

        with as_usage_error(ctx):
            return getattr(PredictConfig(**{name: value}), name)

    return check


def parse_bands(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int | str, ...] | None:
    """'3,2,1' -> (3, 2, 1): 1-based band numbers (their range checked by PredictConfig); 'red,green,blue' or
    'B04,B03,B02' -> band names, found in the scene when it is opened."""
    if value is None:
        return None
    parts = [v.strip() for v in value.split(",")]
    if not all(parts):
        raise click.BadParameter(f"expected comma-separated band numbers (3,2,1) or names (red,green,blue), "
                                 f"got {value!r}")
    numbers = [int(v) if v.lstrip("-").isdigit() else None for v in parts]
    if any(n is None for n in numbers) and any(n is not None for n in numbers):
        raise click.BadParameter(f"give band numbers (3,2,1) or band names (red,green,blue), not both: {value!r}")
    bands: tuple[int | str, ...] = tuple(parts) if numbers[0] is None else tuple(n for n in numbers if n is not None)
    return checked_by_config("bands")(ctx, param, bands)


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


def progress_reporter(ctx: click.Context) -> ProgressReporter:
    """The reporter of `geoclassify --progress-format bar|json`, silent with -q."""
    from geoclassify.progress import reporter

    obj = ctx.find_root().ensure_object(dict)
    return reporter(obj.get("progress_format", "bar"), quiet=bool(obj.get("quiet")))


class ModelFile(click.ParamType):
    """A model file's path, or the name of a bundled model (`geoclassify models` lists them), checked.

    A bundled model's name stays a name: the command turns it into a file with `resolve_model`, once it knows the
    backend (`--backend`) and device.
    """

    name = "model"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """The model file's path, or a bundled model's name; a name that is neither fails as a usage error."""
        from geoclassify.errors import ModelFileError
        from geoclassify.models.bundled import BUNDLED, resolve_model

        try:
            if str(value) not in BUNDLED:  # a bundled name is checked; its backend is chosen by the command
                resolve_model(str(value))
        except ModelFileError as exc:
            self.fail(str(exc), param, ctx)
        return str(value)


MODEL_FILE = ModelFile()


def model_options(required: bool = False, default_help: str = "") -> Callable[[Callable], Callable]:
    """-m/--model, --card, --device and --backend."""
    def decorate(command: Callable) -> Callable:
        for option in reversed((
            click.option("-m", "--model", required=required, type=MODEL_FILE,
                         help="Model file (.safetensors: torch; .onnx: ONNX Runtime) or a bundled model's name "
                              "(geoclassify models)" + default_help + "."),
            click.option("--card", type=click.Path(dir_okay=False),
                         help="Card JSON for an ONNX model not exported by geoclassify."),
            click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True),
            click.option("--backend", type=click.Choice(["auto", "torch", "onnx"]), default="auto", show_default=True,
                         help="What runs a bundled model: auto takes torch on a CUDA GPU, else the faster of the two "
                              "on a CPU as measured for each model (ONNX Runtime without the torch extra). A model "
                              "file runs on its format's backend."),
        )):
            command = option(command)
        return command
    return decorate


bands_option = click.option("--bands", callback=parse_bands,
                            help="Scene bands to feed the model, in its order: numbers (3,2,1) or names (red,green,"
                                 "blue; B04,B03,B02). Default: the model's band names where the scene names its "
                                 "bands, else its band numbers.")
stride_option = click.option("--stride", type=int, callback=checked_by_config("stride"),
                             help="Chip classifiers: output pixel size in scene pixels (default: the chip size).")


def batch_size_flag(default: int | None = 64, help: str = "Windows per model call.") -> Callable[[Callable], Callable]:
    """--batch-size, checked by the config's rule when it is read (a usage error, exit code 2)."""
    return click.option("--batch-size", type=int, default=default, show_default=default is not None,
                        callback=checked_by_config("batch_size"), help=help)


batch_size_option = batch_size_flag(None, "Windows per model call (default: as many as fit a budget of pixels per "
                                           "call measured for the backend: on a CPU 131,072 for ONNX Runtime, e.g. 32 "
                                           "chips of 64 px or 2 tiles of 256 px, and 262,144 for torch).")


@contextmanager
def as_usage_error(ctx: click.Context | None = None) -> Iterator[None]:
    """A ConfigError raised while the options are turned into a config becomes a usage error: one line, exit 2."""
    from geoclassify.errors import ConfigError

    try:
        yield
    except ConfigError as exc:
        raise click.UsageError(str(exc), ctx) from None
