"""Grids reproducing the paper's experiments."""
