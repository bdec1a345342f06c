"""Pure geometry: grids, tiling and blend weights (no I/O)."""
