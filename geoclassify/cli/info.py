"""`geoclassify info MODEL`: print a model file's card."""

from __future__ import annotations

import click

from geoclassify.cli.options import MODEL_FILE, verbosity_options


@click.command()
@click.argument("model", required=False, type=MODEL_FILE)
@verbosity_options
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON.")
def info(model: str | None, as_json: bool) -> None:
    """Print the model card of MODEL, a model file or a bundled model's name (default: agri-s2-rgb)."""
    from geoclassify.models.bundled import BUNDLED, resolve_model
    from geoclassify.models.files import read_model_card

    bundled = model is None or model in BUNDLED  # its card: the .safetensors header (read without torch)
    card = read_model_card(resolve_model(model, "torch") if bundled else str(model))
    click.echo(card.to_json() if as_json else card.describe())
