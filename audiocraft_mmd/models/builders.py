"""The plugin's one seam into AudioCraft's model building: its quantizers, known to audiocraft's builder.

``audiocraft.models.builders.get_quantizer`` maps a name to a class through a dict inside the function
(``rvq``, ``no_quant``), and ``get_compression_model`` looks ``get_quantizer`` up in its module's globals when
it runs. `install_quantizers` (run by importing `audiocraft_mmd.models`, hence by the plugin's solvers,
loaders and commands) binds that global to `get_quantizer` below, which builds the quantizers registered
here from their config block (``encodec.quantizer: pvq`` reads ``pvq:``) and hands every other name to
audiocraft's own. From then on every AudioCraft path that builds a compression model builds a PVQ EnCodec
too, with no override: ``CompressionSolver.build_model``, ``continue_from`` (``//sig/``, checkpoints,
``//pretrained/FILE``), ``CompressionSolver.model_from_checkpoint`` (the LM solver's tokenizer),
and ``CompressionModel.get_pretrained(FILE)``. This relies on audiocraft
1.3.0's builder reading the global at call time (tests/test_pvq.py checks it).
"""
import typing as tp

import omegaconf
from audiocraft.models import builders as audiocraft_builders
from audiocraft.quantization.base import BaseQuantizer
from audiocraft.utils.utils import dict_from_config

from ..errors import ConfigurationError, choice_problem
from ..quantization.pvq import ProductVectorQuantizer

QUANTIZERS: tp.Dict[str, tp.Type[BaseQuantizer]] = {'pvq': ProductVectorQuantizer}
AUDIOCRAFT_QUANTIZERS = ('rvq', 'no_quant')  # the names audiocraft's own builder knows


def register_quantizer(name: str, klass: tp.Type[BaseQuantizer]) -> None:
    """Make ``encodec.quantizer: <name>`` build ``klass(dimension=D, **cfg.<name>)``."""
    QUANTIZERS[name] = klass


def get_quantizer(quantizer: str, cfg: omegaconf.DictConfig, dimension: int) -> BaseQuantizer:
    """The quantizer ``quantizer`` from its config block ``cfg.<quantizer>``, for a latent of ``dimension``;
    audiocraft's ``rvq`` and ``no_quant`` through audiocraft's own function.

    Raises:
        ConfigurationError: ``quantizer`` is none of these (naming the nearest).
    """
    problem = choice_problem('encodec.quantizer', quantizer, [*AUDIOCRAFT_QUANTIZERS, *QUANTIZERS])
    if problem is not None:
        raise ConfigurationError(problem)
    if quantizer not in QUANTIZERS:
        return _AUDIOCRAFT_GET_QUANTIZER(quantizer, cfg, dimension)
    return QUANTIZERS[quantizer](dimension=dimension, **dict_from_config(getattr(cfg, quantizer)))


_AUDIOCRAFT_GET_QUANTIZER = getattr(audiocraft_builders.get_quantizer, 'audiocraft_get_quantizer',
                                    audiocraft_builders.get_quantizer)  # audiocraft's, also if this module reloads
get_quantizer.audiocraft_get_quantizer = _AUDIOCRAFT_GET_QUANTIZER  # type: ignore[attr-defined]


def install_quantizers() -> None:
    """Bind ``audiocraft.models.builders.get_quantizer`` to the plugin's `get_quantizer` (idempotent)."""
    audiocraft_builders.get_quantizer = get_quantizer
