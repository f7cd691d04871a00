"""The recipes the commands train, as functions of their parameters: a Dora argv for the plugin's main.

An argv is a run's identity (its Dora signature), so these functions are the one place an argv is written:
change an argument's text or order and every finished XP of that recipe is trained again.
"""
import functools
import typing as tp
from pathlib import Path

import omegaconf

from ..lm_patterns import pattern_argv
from .xp import UPDATES_PER_EPOCH, XP, epoch_schedule

CODEC_SOLVER = 'solver=compression/encodec_mmd_debug'
LM_SOLVER = 'solver=musicgen/mmd_debug'
# How the shipped start codec was trained (with the demo music's train and valid splits): 40 epochs of 50
# updates, MMD measured but not trained. `--start train` runs this on the data given (`--start-steps`: more
# epochs of 50 updates).
START_STEPS = 2000
START_SEED = 2036
# --quantizer: the overrides of the start codec and of every fine-tuned codec (paper Table 4), and the
# quantizer type each needs in its start codec. The shipped start codec is an RVQ.
QUANTIZERS: tp.Dict[str, tp.List[str]] = {
    'rvq': [],
    'pvq': ['encodec.quantizer=pvq'],
    'pvq-dropout': ['encodec.quantizer=pvq', 'pvq.q_dropout=true'],
}
QUANTIZER_TYPE = {'rvq': 'rvq', 'pvq': 'pvq', 'pvq-dropout': 'pvq'}


@functools.lru_cache(maxsize=None)
def solver_config(solver: str) -> omegaconf.DictConfig:
    """The config ``solver`` (e.g. `CODEC_SOLVER`) composes to through the plugin's Dora main, read for the
    values a recipe derives from (the batch size, the sample rate, the warm-up)."""
    from ..train import main
    return main.get_xp([solver]).cfg


def schedule_argv(solver: str, steps: int) -> tp.List[str]:
    """The epochs of a ``steps``-step run of ``solver`` (`epoch_schedule`), and the override that makes each hold
    its updates (the loader would cut it short)."""
    epochs, updates = epoch_schedule(steps)
    return [f'optim.epochs={epochs}', f'optim.updates_per_epoch={updates}',
            f'dataset.train.num_samples={updates * solver_config(solver).dataset.batch_size}']


def data_argv(manifests: tp.Mapping[str, Path]) -> tp.List[str]:
    """Training on the train split of ``manifests``, validating on its valid split, no evaluate or generate stage."""
    return [f'datasource.train={manifests["train"]}', f'datasource.valid={manifests["valid"]}',
            'datasource.evaluate=null', 'datasource.generate=null']


def start_argv(steps: int = START_STEPS) -> tp.List[str]:
    """The start codec's recipe for ``steps`` (a multiple of `UPDATES_PER_EPOCH`), without the data."""
    return [CODEC_SOLVER, 'datasource.evaluate=null', 'datasource.generate=null',
            f'optim.epochs={steps // UPDATES_PER_EPOCH}', f'optim.updates_per_epoch={UPDATES_PER_EPOCH}',
            'mmd.weight=0', f'seed={START_SEED}']


START_ARGV = start_argv()  # the shipped codec's


def mmd_argv(weight: float, scale: str, num_batches: tp.Optional[int] = None,
             mode: tp.Optional[str] = None) -> tp.List[str]:
    """The ``mmd.*`` overrides of a codec of ``weight`` (None: the solver's ``num_batches``/``mode``). Weight-0
    XPs name only the weight (nothing is trained with the others), so runs with another scale, ``num_batches``
    or ``mode`` reuse them."""
    if weight == 0:
        return ['mmd.weight=0']
    return [f'mmd.weight={weight:g}', f'mmd.scale={scale}',
            *([f'mmd.num_batches={num_batches}'] if num_batches is not None else []),
            *([f'mmd.mode={mode}'] if mode is not None else [])]


def codec_argv(manifests: tp.Mapping[str, Path], start: tp.Optional[str], steps: int, weight: float, seed: int,
               alignment: str = 'delay', scale: str = 'standardized', quantizer: str = 'rvq',
               num_batches: tp.Optional[int] = None, mode: tp.Optional[str] = None) -> tp.List[str]:
    """A codec fine-tuned ``steps`` steps from ``start`` (a ``continue_from`` value; None: trained from scratch) on
    the train split of ``manifests`` with the MMD at ``weight`` (0: the baseline) matched to ``alignment``."""
    return [CODEC_SOLVER, *data_argv(manifests), *([f'continue_from={start}'] if start is not None else []),
            *schedule_argv(CODEC_SOLVER, steps), f'mmd.alignment={alignment}', *QUANTIZERS[quantizer],
            *mmd_argv(weight, scale, num_batches, mode), f'seed={seed}']


def codec_xp(label: str, manifests: tp.Mapping[str, Path], start: tp.Optional[str], steps: int, weight: float,
             seed: int, **options: tp.Any) -> XP:
    """The XP of `codec_argv` (``options``: its keyword arguments), with its length in steps and epochs."""
    epochs, updates = epoch_schedule(steps)
    return XP(label, weight, seed, codec_argv(manifests, start, steps, weight, seed, **options), epochs * updates,
              epochs)


def lm_argv(codec_sig: str, manifests: tp.Mapping[str, Path], steps: int, pattern: str, seed: int) -> tp.List[str]:
    """A debug LM of `lm_patterns.LM_PATTERNS` ``pattern`` trained ``steps`` steps on the tokens of the codec XP
    ``codec_sig`` over the train split of ``manifests``."""
    # the solver refuses a warm-up as long as the training
    warmup = [f'schedule.cosine.warmup={steps // 2}'] if steps <= solver_config(LM_SOLVER).schedule.cosine.warmup else []
    return [LM_SOLVER, f'compression_model_checkpoint=//sig/{codec_sig}', *data_argv(manifests),
            *schedule_argv(LM_SOLVER, steps), *warmup, *pattern_argv(pattern), f'seed={seed}']


def lm_xp(label: str, codec_sig: str, manifests: tp.Mapping[str, Path], steps: int, pattern: str, seed: int) -> XP:
    """The XP of `lm_argv` (weight 0: an LM trains no MMD), with its length in steps and epochs."""
    epochs, updates = epoch_schedule(steps)
    return XP(label, 0., seed, lm_argv(codec_sig, manifests, steps, pattern, seed), epochs * updates, epochs)
