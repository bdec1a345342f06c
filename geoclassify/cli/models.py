"""`geoclassify models`: list the registered architectures."""

from __future__ import annotations

import click

from geoclassify.cli.options import verbosity_options


@click.command()
@verbosity_options
@click.option("--classes", type=click.IntRange(min=1), default=2, show_default=True,
              help="Classes used to count parameters.")
@click.option("--bands", type=click.IntRange(min=1), default=3, show_default=True,
              help="Input bands used to count parameters.")
def models(classes: int, bands: int) -> None:
    """List the architectures geoclassify can build, with parameter counts."""
    from geoclassify.models.factory import count_parameters, create_model, list_models

    for entry in list_models():
        n = count_parameters(create_model(entry.name, bands, classes))
        click.echo(f"{entry.name:<16} {entry.task:<15} {n / 1e6:8.2f}M params  {entry.description}")
