"""Solvers added by the plugin, and the solver registry used by its Dora main."""
from .compression_mmd import CompressionMMDSolver
from .musicgen_mmd import MusicGenMMDSolver
from .registry import SOLVERS, check_config, get_solver, register_solver

__all__ = ['CompressionMMDSolver', 'MusicGenMMDSolver', 'SOLVERS', 'check_config', 'get_solver', 'register_solver']

register_solver('compression_mmd', CompressionMMDSolver)
register_solver('musicgen_mmd', MusicGenMMDSolver)
