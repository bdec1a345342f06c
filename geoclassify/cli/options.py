"""Parsers for options shared by several commands."""

from __future__ import annotations

import click


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
