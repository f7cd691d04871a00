"""Maps ``cfg.solver`` to a solver class: the plugin's solvers first, then audiocraft's own."""
import typing as tp

import omegaconf
from audiocraft.solvers import builders as audiocraft_builders
from audiocraft.solvers.base import StandardSolver

from ..errors import ConfigurationError

SOLVERS: tp.Dict[str, tp.Type[StandardSolver]] = {}


def register_solver(name: str, klass: tp.Type[StandardSolver]) -> None:
    """Make ``solver: <name>`` build ``klass`` through the plugin's Dora main."""
    SOLVERS[name] = klass


def check_config(cfg: omegaconf.DictConfig) -> None:
    """Run the ``check_config(cfg)`` classmethod of the plugin solver ``cfg.solver`` names (before it is built)."""
    check = getattr(SOLVERS.get(cfg.solver), 'check_config', None)
    if check is not None:
        check(cfg)


def get_solver(cfg: omegaconf.DictConfig, checked: bool = False) -> StandardSolver:
    """Instantiate the solver named by ``cfg.solver`` after its `check_config` (skipped when the caller ran it:
    ``checked``); falls back to `audiocraft.solvers.builders.get_solver`."""
    if cfg.solver in SOLVERS:
        if not checked:
            check_config(cfg)
        return SOLVERS[cfg.solver](cfg)
    try:
        return audiocraft_builders.get_solver(cfg)
    except KeyError as exc:
        if exc.args != (cfg.solver,):
            raise
        raise ConfigurationError(f"Unknown solver {cfg.solver!r}: the plugin provides {sorted(SOLVERS)} and "
                                 "audiocraft provides compression, musicgen, audiogen, magnet, audio_magnet, "
                                 "diffusion.") from None
