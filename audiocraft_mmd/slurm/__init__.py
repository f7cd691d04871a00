"""Slurm on one machine (to try grids on a workstation, and for the test of `dora grid`), and the Slurm
resources a solver config asks for."""
from .local import LocalSlurm, SlurmUnavailable, missing_slurm_programs
from .resources import slurm_resources, xp_slurm_resources

__all__ = ['LocalSlurm', 'SlurmUnavailable', 'missing_slurm_programs', 'slurm_resources', 'xp_slurm_resources']
