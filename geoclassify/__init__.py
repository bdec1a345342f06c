"""geoclassify: classify land in satellite and aerial scenes of any size."""

from geoclassify.errors import GeoclassifyError
from geoclassify.geo.grid import Grid, Tile
from geoclassify.models.card import ModelCard

__version__ = "0.1.0"

__all__ = ["GeoclassifyError", "Grid", "Tile", "ModelCard", "__version__"]
