"""`geoclassify models`: list the bundled models (and, with --architectures, the architectures to train)."""

from __future__ import annotations

import json

import click

from geoclassify.cli.options import verbosity_options


@click.command()
@verbosity_options
@click.option("--architectures", is_flag=True, help="List the architectures geoclassify can train instead.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the bundled models as a JSON list (name, default, task, classes, colours, bands, GSD, tile "
                   "size, a suggested stride, files, test figures), for programs such as the QGIS plugin.")
@click.option("--classes", type=click.IntRange(min=1), default=2, show_default=True,
              help="--architectures: classes used to count parameters.")
@click.option("--bands", type=click.IntRange(min=1), default=3, show_default=True,
              help="--architectures: input bands used to count parameters.")
def models(architectures: bool, as_json: bool, classes: int, bands: int) -> None:
    """List the bundled models (give one by name: predict -m NAME) with their task, classes, bands, GSD and test
    figures, or with --architectures the architectures to train, with parameter counts."""
    if architectures:
        from geoclassify.optional import require_extra

        require_extra("torch", "the architectures to train")
        from geoclassify.models.factory import count_parameters, create_model, list_models

        for entry in list_models():
            n = count_parameters(create_model(entry.name, bands, classes))
            click.echo(f"{entry.name:<18} {entry.task:<15} {n / 1e6:8.2f}M params  {entry.description}")
        return
    from geoclassify.models.bundled import BUNDLED, DEFAULT, bundled_path, describe_bundled
    from geoclassify.models.files import read_model_card

    if as_json:
        click.echo(json.dumps([describe_bundled(name) for name in BUNDLED], indent=1))
        return
    for name in BUNDLED:
        card = read_model_card(bundled_path(name))
        default = " (default)" if name == DEFAULT else ""
        figures = ", ".join(f"{k} {v}" for k, v in card.test_figures().items())
        click.echo(f"{name}{default}: {card.task}, {card.architecture}, {card.num_classes} classes")
        click.echo(f"  classes: {', '.join(card.class_names)}")
        named = ", ".join(card.band_names) or str(card.bands)
        click.echo(f"  bands: {named}; GSD: {card.gsd_text()}; tile: {card.tile_size} px")
        click.echo(f"  test: {figures or 'not recorded'}")
        click.echo(f"  data: {card.provenance.get('data', 'not recorded')}")
