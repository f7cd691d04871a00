"""Metrics on codec codes: statistical dependence between codebooks (paper Fig. 2, Tables 3-4, App. E)."""
from ..alignment import ALIGNMENTS
from .dependence import (
    CORRECTIONS,
    DEFAULT_CORRECTION,
    DependenceAccumulator,
    DependenceResult,
    GroupedDependence,
    codebook_dependence,
)

__all__ = [
    "ALIGNMENTS",
    "CORRECTIONS",
    "DEFAULT_CORRECTION",
    "DependenceAccumulator",
    "DependenceResult",
    "GroupedDependence",
    "codebook_dependence",
]
