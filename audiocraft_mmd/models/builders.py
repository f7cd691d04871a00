"""Builders of the plugin's compression models: audiocraft's, plus the quantizers it adds.

``audiocraft.models.builders.get_quantizer`` is a fixed dict (``rvq``, ``no_quant``), so the plugin's
quantizers are registered here and `get_compression_model` builds an EnCodec with one of them from its
config block (``encodec.quantizer: pvq`` reads ``pvq:``); every other config goes to audiocraft's
``get_compression_model`` unchanged. Everything in the plugin that builds or loads a compression model
goes through this module.
"""
import typing as tp

import omegaconf
from audiocraft.models import CompressionModel, EncodecModel
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


def check_quantizer_name(quantizer: str) -> None:
    """Raise a `ConfigurationError` naming the nearest known quantizer when ``encodec.quantizer`` is none."""
    problem = choice_problem('encodec.quantizer', quantizer, [*AUDIOCRAFT_QUANTIZERS, *QUANTIZERS])
    if problem is not None:
        raise ConfigurationError(problem)


def get_quantizer(quantizer: str, cfg: omegaconf.DictConfig, dimension: int) -> BaseQuantizer:
    """The quantizer ``quantizer`` from its config block ``cfg.<quantizer>``, for a latent of ``dimension``;
    audiocraft's ``rvq`` and ``no_quant`` through audiocraft's builder.

    Raises:
        ConfigurationError: ``quantizer`` is none of these (naming the nearest).
    """
    check_quantizer_name(quantizer)
    if quantizer not in QUANTIZERS:
        return audiocraft_builders.get_quantizer(quantizer, cfg, dimension)
    kwargs = dict_from_config(getattr(cfg, quantizer))
    return QUANTIZERS[quantizer](dimension=dimension, **kwargs)


def get_compression_model(cfg: omegaconf.DictConfig) -> CompressionModel:
    """A compression model from an XP config, on ``cfg.device``: an EnCodec with a plugin quantizer built
    here (as audiocraft builds an EnCodec), anything else by ``audiocraft.models.builders``."""
    encodec = cfg.get('encodec') if cfg.get('compression_model') == 'encodec' else None
    if encodec is not None:
        check_quantizer_name(encodec.get('quantizer'))
    if encodec is None or encodec.get('quantizer') not in QUANTIZERS:
        return audiocraft_builders.get_compression_model(cfg)
    kwargs = dict_from_config(cfg.encodec)
    encoder_name = kwargs.pop('autoencoder')
    quantizer_name = kwargs.pop('quantizer')
    encoder, decoder = audiocraft_builders.get_encodec_autoencoder(encoder_name, cfg)
    quantizer = get_quantizer(quantizer_name, cfg, encoder.dimension)
    frame_rate = kwargs['sample_rate'] // encoder.hop_length
    renormalize = kwargs.pop('renormalize', False)
    kwargs.pop('renorm', None)  # deprecated, dropped as audiocraft does
    return EncodecModel(encoder, decoder, quantizer, frame_rate=frame_rate, renormalize=renormalize,
                        **kwargs).to(cfg.device)
