"""The ``audiocraft-mmd`` commands: one module each, with its parser section (``add_parser``) and its ``run``."""
from . import demo, dependence, export, lm_gap, manifest, planted, report, setup, slurm_local

COMMANDS = (demo, planted, slurm_local, lm_gap, setup, manifest, dependence, export, report)  # in --help order

__all__ = ['COMMANDS']
