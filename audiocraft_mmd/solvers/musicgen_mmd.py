"""MusicGen LM solver over an EnCodec-MMD tokenizer (``solver: musicgen_mmd``).

Training is audiocraft's :class:`MusicGenSolver` unchanged. What this subclass adds happens before
anything is built, so that a run that cannot work stops at start with a message naming the key:

- ``compression_model_checkpoint`` must name a tokenizer that exists and fits the LM
  (``transformer_lm.card``, ``transformer_lm.n_q``, ``sample_rate``, ``channels``); it may be a
  ``//sig/``, a checkpoint, ``//pretrained/NAME``, or an exported file or folder;
- the weights of the generation metrics the evaluate stage enables (FAD, KL, CLAP) must be in place;
- the cosine warm-up must end before the last update.

A training step whose loss is NaN or Inf stops the run with `NonFiniteLossError` (the step, the last good
checkpoint), before anything is saved. Checkpoints are saved so that ``torch.load``'s safe loader reads them (see :mod:`audiocraft_mmd.compat`).
"""
import logging
import typing as tp

import omegaconf
from audiocraft.solvers.musicgen import MusicGenSolver

from ..alignment import CodeGroup, code_groups
from ..compat import safe_checkpoint_state
from ..errors import ConfigurationError, run_checks
from ..metrics.generation_weights import check_generation_metric_weights
from ..models.compression import CompressionSource, load_codec, locate_compression_model
from ..models.musicgen import check_lm_matches_codec
from .finite import non_finite_loss_error
from .resume import ExactResume
from .stages import SkipNullSplitStages

logger = logging.getLogger(__name__)
DIVERGED = "Model probably diverged."  # audiocraft's MusicGenSolver.run_step, on a non-finite loss


def audiocraft_tokenizer_name(name: str, source: CompressionSource) -> str:
    """``name`` (located at ``source``) as audiocraft's ``CompressionSolver.model_from_checkpoint`` accepts it.

    audiocraft reads exported files only behind ``//pretrained/``; ``//sig/``, checkpoints and
    ``//pretrained/NAME`` pass unchanged.
    """
    if source.kind == 'checkpoint' or source.path is None:
        return name
    return f'//pretrained/{source.path}'


def check_tokenizer(cfg: omegaconf.DictConfig) -> CompressionSource:
    """Load the tokenizer of ``cfg.compression_model_checkpoint`` on the CPU, check that the LM fits it,
    and return where it is."""
    name = cfg.get('compression_model_checkpoint')
    if not name or omegaconf.OmegaConf.is_missing(cfg, 'compression_model_checkpoint'):
        raise ConfigurationError(
            "compression_model_checkpoint is not set: pass compression_model_checkpoint=//sig/SIG (an EnCodec-MMD "
            "XP of solver=compression/encodec_mmd_*), a checkpoint.th, an exported file, or //pretrained/NAME.")
    try:
        source = locate_compression_model(name)
        codec = load_codec(source, device='cpu')
    except ConfigurationError as exc:
        raise type(exc)(f"compression_model_checkpoint={name}: {exc}") from exc
    check_lm_matches_codec(cfg, codec.model, f"compression_model_checkpoint={name}")
    if (mismatch := pattern_mismatch(cfg, codec.cfg)) is not None:
        logger.warning("compression_model_checkpoint=%s: %s", name, mismatch)
    return source


def pattern_mismatch(cfg: omegaconf.DictConfig, codec_cfg: tp.Optional[omegaconf.DictConfig]) -> tp.Optional[str]:
    """Why the LM's ``codebooks_pattern`` predicts together other codes than those the tokenizer's MMD made
    independent (``mmd.alignment`` and ``mmd.pattern`` of its XP config), or None (the same groups of codes,
    `audiocraft_mmd.alignment.code_groups`, or the tokenizer has no MMD)."""
    mmd = codec_cfg.get('mmd') if codec_cfg is not None else None
    if mmd is None or not mmd.get('weight'):
        return None
    num_codebooks = cfg.transformer_lm.n_q
    lm_pattern = omegaconf.OmegaConf.to_container(cfg.codebooks_pattern, resolve=True)
    mmd_pattern = omegaconf.OmegaConf.to_container(mmd.pattern, resolve=True) if mmd.get('pattern') else None
    trained = f"mmd.alignment={mmd.alignment}" + (f" with mmd.pattern={mmd_pattern}" if mmd.alignment == 'pattern' else '')
    try:
        lm_groups = code_groups(num_codebooks, 'pattern', lm_pattern)
    except ValueError as exc:
        return f"the tokenizer was trained with {trained}, but this LM's codebooks_pattern {lm_pattern}: {exc}"
    codec_groups = code_groups(num_codebooks, mmd.alignment, mmd_pattern)
    if [(g.codebooks, g.offsets) for g in lm_groups] == [(g.codebooks, g.offsets) for g in codec_groups]:
        return None
    shown = f"codebooks_pattern.modeling={lm_pattern['modeling']}" + (
        f" with delays {lm_pattern['delay'].get('delays')}" if lm_pattern['modeling'] == 'delay'
        and isinstance(lm_pattern.get('delay'), dict) else '')

    def describe(groups: tp.Sequence[CodeGroup]) -> str:
        return '; '.join(g.describe() for g in groups)

    return (f"the tokenizer was trained with {trained} (independence of the codes {describe(codec_groups)} "
            f"predicted in one step), but this LM uses {shown}, which predicts {describe(lm_groups)} in one "
            "step: it factorizes other codes than the MMD made independent.")


def check_schedule(cfg: omegaconf.DictConfig) -> None:
    """The cosine schedule needs its warm-up to end before the last update."""
    if cfg.schedule.get('lr_scheduler') != 'cosine':
        return
    total = cfg.optim.epochs * cfg.optim.updates_per_epoch
    if cfg.schedule.cosine.warmup >= total:
        raise ConfigurationError(
            f"schedule.cosine.warmup={cfg.schedule.cosine.warmup} must be below the number of updates "
            f"optim.epochs x optim.updates_per_epoch = {total}: lower the warm-up or train longer.")


class MusicGenMMDSolver(ExactResume, SkipNullSplitStages, MusicGenSolver):
    """audiocraft's MusicGen solver with start-of-run checks of the tokenizer and evaluation weights.

    A null ``datasource.evaluate`` or ``datasource.generate`` skips that stage.
    """

    def __init__(self, cfg: omegaconf.DictConfig):
        # `check_config` ran before (`audiocraft_mmd.solvers.get_solver`): the tokenizer exists and fits
        source = locate_compression_model(str(cfg.compression_model_checkpoint))
        cfg.compression_model_checkpoint = audiocraft_tokenizer_name(str(cfg.compression_model_checkpoint), source)
        super().__init__(cfg)  # audiocraft's builder knows the plugin's quantizers (`audiocraft_mmd.models.builders`)

    @classmethod
    def check_config(cls, cfg: omegaconf.DictConfig) -> None:
        """The schedule, the tokenizer (loaded on the CPU, once more than audiocraft then does) and the
        generation metrics' weights, every problem at once."""
        run_checks([lambda: check_schedule(cfg), lambda: check_tokenizer(cfg),
                    lambda: check_generation_metric_weights(cfg)])

    def run_step(self, idx: int, batch: tp.Any, metrics: dict) -> dict:
        """audiocraft's step; its ``RuntimeError("Model probably diverged.")`` (a non-finite loss, raised after the
        optimizer step, before any checkpoint) becomes `NonFiniteLossError`, naming the step and the last
        good checkpoint."""
        try:
            return super().run_step(idx, batch, metrics)
        except RuntimeError as exc:
            if str(exc) != DIVERGED:
                raise
            raise non_finite_loss_error(self, idx, "the cross-entropy loss is not finite") from None

    def state_dict(self) -> dict:
        """Solver state without ``defaultdict``s and with a resolved config (readable by the safe loader)."""
        return safe_checkpoint_state(super().state_dict())
