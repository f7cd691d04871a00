"""Which codes of the K codebooks form one sample: the one alignment of the MMD loss, the dependence
metric, the config checks and the LM's pattern check.

A sample is what a language model predicts *in one step*, read from an AudioCraft codebooks pattern
(`audiocraft.modules.codebooks_patterns`): a :class:`CodeGroup` of codebooks, codebook ``q`` taken
at frame ``p + offset_q`` for every position ``p`` where all of them lie in the clip.

- ``delay``: MusicGen's delay pattern, ``(z_0[t], z_1[t-1], ..., z_{K-1}[t-K+1])``; codebook k
  is sliced ``[K-1-k : T-k]``, so K-1 frames are cropped (T' = T-K+1);
- ``parallel``: the K codes of one frame (T' = T);
- ``pattern``: any pattern provider named as in ``transformer_lm``'s ``codebooks_pattern`` config
  (``{'modeling': 'coarse_first', 'coarse_first': {'delays': [0, 0, 0]}}``). A step predicting one
  code carries no within-step dependence and is skipped; steps predicting different sets of codes
  form their own groups, each weighted by its steps per frame.

``delay`` and ``parallel`` are read from their providers like any other pattern. The steps at the
edges of a sequence (the first K-1 steps of ``delay`` predict fewer codes) are not groups: a group
is a set of codes whose number of steps grows with the sequence (found by building the pattern at
three lengths), so the samples of a clip are the positions where the whole group lies in it.
"""
from collections import Counter
from dataclasses import dataclass
import functools
import json
import typing as tp

import numpy as np
import torch

from .errors import ConfigurationError, choice_problem

ALIGNMENTS: tp.Tuple[str, ...] = ('delay', 'parallel', 'pattern')
"""Valid alignments; ``delay`` (the paper's) first. ``pattern`` needs a pattern config."""

BUILTIN_ALIGNMENTS: tp.Tuple[str, ...] = ('delay', 'parallel')
"""The alignments that need no pattern config (what the codec meter measures by default)."""

PATTERNS: tp.Tuple[str, ...] = ('delay', 'parallel', 'unroll', 'coarse_first', 'musiclm')
"""AudioCraft's codebooks pattern providers (``codebooks_pattern.modeling`` values)."""

Codes = tp.TypeVar('Codes', torch.Tensor, np.ndarray)
PatternConfig = tp.Mapping[str, tp.Any]

_PERIOD_PROBES = (256, 512, 768)  # sequence lengths at which a pattern's steps are counted


@dataclass(frozen=True)
class CodeGroup:
    """Codes an LM predicts in one step: codebook ``codebooks[i]`` at frame ``p + offsets[i]``.

    Attributes:
        codebooks: codebook indices, increasing.
        offsets: frame offset of each codebook relative to the group's earliest frame (min 0).
        steps_per_frame: how many steps of the pattern predict this group, per frame of audio.
    """
    codebooks: tp.Tuple[int, ...]
    offsets: tp.Tuple[int, ...]
    steps_per_frame: float = 1.

    @property
    def span(self) -> int:
        """Frames between the group's earliest and latest code."""
        return max(self.offsets)

    def length(self, num_frames: int) -> int:
        """T': positions of a ``num_frames``-frame clip where the whole group lies in the clip (>= 0)."""
        return max(num_frames - self.span, 0)

    def take(self, codes: Codes) -> Codes:
        """The group's codes of ``codes`` [B, K, ..., T] (tensor or array) -> [B, K_g, ..., T']."""
        if codes.ndim < 3:
            raise ValueError(f"codes must be [B, K, ..., T], got shape {tuple(codes.shape)}.")
        if codes.shape[1] <= max(self.codebooks):
            raise ValueError(f"codes have K={codes.shape[1]} codebooks; this group reads codebook "
                             f"{max(self.codebooks)}.")
        steps = self.length(codes.shape[-1])
        parts = [codes[:, q, ..., o:o + steps] for q, o in zip(self.codebooks, self.offsets)]
        return torch.stack(parts, dim=1) if isinstance(codes, torch.Tensor) else np.stack(parts, axis=1)

    def describe(self) -> str:
        """e.g. ``z0[t+3] z1[t+2] z2[t+1] z3[t]``."""
        return ' '.join(f"z{q}[t+{o}]" if o else f"z{q}[t]" for q, o in zip(self.codebooks, self.offsets))


def pattern_problem(pattern: tp.Optional[PatternConfig], key: str = 'pattern') -> tp.Optional[str]:
    """Why ``pattern`` is not a codebooks pattern config (``modeling`` + its provider's keyword
    arguments), or None; does not need K. ``key``: how the message names the pattern (``mmd.pattern``)."""
    if not isinstance(pattern, tp.Mapping):
        return (f"the pattern must be a codebooks_pattern config such as {{modeling: coarse_first}}, "
                f"got {pattern!r}")
    name = pattern.get('modeling')
    if (problem := choice_problem(f"{key}.modeling", name, PATTERNS)) is not None:
        return problem.rstrip('.')
    kwargs = pattern.get(name)
    if kwargs is not None and not isinstance(kwargs, tp.Mapping):
        return f"pattern {name}'s arguments must be a mapping, got {kwargs!r}"
    return None


def _frozen(pattern: PatternConfig) -> str:
    """A hashable, canonical form of the used part of ``pattern`` (its modeling and its arguments)."""
    name = pattern['modeling']
    kwargs = {key: value for key, value in dict(pattern.get(name) or {}).items() if value is not None}
    return json.dumps({'modeling': name, name: {k: list(v) if isinstance(v, (list, tuple)) else v
                                                 for k, v in sorted(kwargs.items())}}, sort_keys=True)


def pattern_provider(num_codebooks: int, pattern: PatternConfig):
    """AudioCraft's provider of ``pattern`` for K codebooks (``models.builders.get_codebooks_pattern_provider``).

    Null arguments take the provider's defaults (fitted to K). Raises `ValueError` when the
    arguments do not fit K or the provider.
    """
    import omegaconf
    from audiocraft.models.builders import get_codebooks_pattern_provider
    problem = pattern_problem(pattern)
    if problem:
        raise ValueError(problem + '.')
    config = json.loads(_frozen(pattern))
    name = config['modeling']
    try:
        return get_codebooks_pattern_provider(num_codebooks, omegaconf.OmegaConf.create(config))
    except (AssertionError, TypeError, ValueError, IndexError) as exc:
        detail = f": {exc}" if str(exc) else ''
        raise ValueError(f"pattern {name} with arguments {config[name]} does not fit K={num_codebooks} "
                         f"codebooks{detail} (null arguments take the provider's defaults).") from None


def pattern_groups(provider) -> tp.Tuple[CodeGroup, ...]:
    """The groups of codes predicted together by ``provider``'s steps (see the module docstring).

    Counts each step's set of (codebook, relative frame) at three sequence lengths: the sets whose
    count grows with the length are the pattern's groups, with their steps per frame; single codes
    are left out. Raises `ValueError` when no step predicts two codes, or the pattern is not periodic.
    """
    counts = []
    for timesteps in _PERIOD_PROBES:
        steps: tp.Counter[tp.Tuple[tp.Tuple[int, int], ...]] = Counter()
        for step in provider.get_pattern(timesteps).layout:
            if step:
                first = min(coord.t for coord in step)
                steps[tuple(sorted((coord.q, coord.t - first) for coord in step))] += 1
        counts.append(steps)
    (short, middle, long_), (t0, t1, t2) = counts, _PERIOD_PROBES
    assert t1 - t0 == t2 - t1
    groups = []
    for signature in sorted(set(middle) | set(long_)):
        growth = middle[signature] - short[signature]
        if long_[signature] - middle[signature] != growth:  # the probes are equally spaced
            raise ValueError(f"the pattern's steps are not periodic over {t2} frames; cannot read its groups.")
        if growth > 0 and len(signature) > 1:
            codebooks, offsets = zip(*signature)
            groups.append(CodeGroup(codebooks, offsets, growth / (t1 - t0)))
    if not groups:
        raise ValueError("the pattern predicts one code per step: no codes are predicted together, so there is no "
                         "within-step dependence to measure or to reduce.")
    return tuple(groups)


@functools.lru_cache(maxsize=64)
def _groups(num_codebooks: int, alignment: str, frozen: tp.Optional[str]) -> tp.Tuple[CodeGroup, ...]:
    pattern = json.loads(frozen) if frozen is not None else {'modeling': alignment}
    return pattern_groups(pattern_provider(num_codebooks, pattern))


def code_groups(num_codebooks: int, alignment: str,
                pattern: tp.Optional[PatternConfig] = None) -> tp.Tuple[CodeGroup, ...]:
    """The groups of codes that form the samples of ``alignment`` for K codebooks.

    Args:
        num_codebooks: K, at least 2.
        alignment: one of :data:`ALIGNMENTS`.
        pattern: with ``alignment='pattern'``, the codebooks pattern config (ignored otherwise).
    Raises:
        ValueError: unknown alignment, missing/bad pattern, or a pattern that predicts no two codes together.
    """
    if alignment not in ALIGNMENTS:
        raise ValueError(f"Unknown alignment {alignment!r}; expected one of {', '.join(map(repr, ALIGNMENTS))}.")
    if num_codebooks < 2:  # the one check of K: the loss, the meters and the config read their groups here
        raise ConfigurationError(f"Dependence between codebooks needs at least 2 codebooks, got K={num_codebooks}.")
    if alignment != 'pattern':
        return _groups(num_codebooks, alignment, None)
    problem = pattern_problem(pattern)
    if problem:
        raise ValueError(f"alignment 'pattern' needs a pattern: {problem}.")
    assert pattern is not None
    return _groups(num_codebooks, alignment, _frozen(pattern))


def group_weights(groups: tp.Sequence[CodeGroup]) -> tp.List[float]:
    """Each group's share of the steps that predict several codes (sums to 1)."""
    total = sum(group.steps_per_frame for group in groups)
    return [group.steps_per_frame / total for group in groups]


def aligned_length(num_frames: int, groups: tp.Sequence[CodeGroup]) -> int:
    """T': the fewest samples per clip of ``num_frames`` frames over ``groups`` (0: some group does not fit)."""
    return min(group.length(num_frames) for group in groups)
