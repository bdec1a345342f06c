"""`python -m geoclassify.cli.keras_process`: the Keras trainer in a process of its own (`geoclassify train
--framework keras` starts it), so TensorFlow never shares a process with torch. Prints the result as JSON on stdout.

The trainer itself is geoclassify.training.keras; this is its process entry point, with the CLI's logging
options and error handling.
"""

from __future__ import annotations

import sys
import warnings

import click

from geoclassify.cli.options import clear_errors, is_quiet, verbosity_options
from geoclassify.cli.train import echo_result


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False))
@click.option("--resume", "resume_path", type=click.Path(file_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE")
@verbosity_options
@click.pass_context
def main(ctx: click.Context, config_path, out, resume_path, overrides) -> None:
    """Train a Keras model into a run directory (see `geoclassify train --framework keras`)."""
    # the datasets filter unreadable samples, so Keras cannot know an epoch's length and warns at its end
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    with clear_errors(ctx, "Interrupted: the run directory keeps the last completed epoch (--resume it)."):
        from geoclassify.training.keras import import_keras

        import_keras()
        from geoclassify.training.config import load_config
        from geoclassify.training.keras.trainer import resume, train

        progress = not is_quiet(ctx)
        result = resume(resume_path, progress) if resume_path else train(
            load_config(config_path, list(overrides)), out, progress)
    echo_result(result)


if __name__ == "__main__":
    sys.exit(main(prog_name="python -m geoclassify.cli.keras_process"))
