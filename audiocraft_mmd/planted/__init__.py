"""Planted dependence: a codec whose codebooks are strongly dependent by construction, trained with and without
the MMD through the solver's own functions, to show what the loss does where it must act (and how a lower
MMD can mislead). `audiocraft-mmd planted` runs it; `audiocraft-mmd demo` runs it before the real music."""
from .codec import PointCodec, PlantedSettings, train_planted
from .data import RotatedClusters
from .run import PlantedReport, run_planted

__all__ = ['PlantedReport', 'PlantedSettings', 'PointCodec', 'RotatedClusters', 'run_planted', 'train_planted']
