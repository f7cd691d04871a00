"""The ``mmd:`` block of a solver config, next to the loss it builds: typed, validated once when the solver (or the
meter, or the planted experiment) is built; `MMDLoss.from_config` makes its loss."""
from dataclasses import dataclass, fields
import math
import typing as tp

import omegaconf

from ..alignment import CodeGroup, aligned_length, code_groups
from ..errors import ConfigurationError, choice_problem, nearest_key, raise_all
from .mmd import loss_problems
from ..quantization import STREAMS


MODES = ('macro_batch', 'bank')
"""``mmd.mode``: the paper's macro-batch re-encoded every ``num_batches`` steps, or a `SampleBank` at every step."""


class MMDConfigError(ConfigurationError):
    """A configuration that cannot work, naming the offending key."""


@dataclass
class MMDConfig:
    """Settings of the independence loss (see docs/MMD.md for how they map to the paper).

    Attributes:
        weight: factor of the MMD term, backpropagated in its own backward (paper: 1e3). With 0 the
            MMD is still measured on each macro-batch and logged, but nothing is backpropagated.
        mode: ``macro_batch`` (paper): every ``num_batches`` steps the stored audio is re-encoded and the MMD
            backpropagated in its own backward; ``bank``: at every step, the MMD over the current batch's codes
            (from the regular forward) and the values of the previous ``num_batches - 1`` batches'
            (`audiocraft_mmd.losses.SampleBank`), its gradient through the current batch only.
        num_batches: training batches accumulated into one macro-batch (paper: 32), or spanned by the bank.
        alignment: ``delay`` (what MusicGen's delay pattern predicts in one step), ``parallel`` or
            ``pattern`` (what ``pattern`` predicts in one step, see ``audiocraft_mmd.alignment``).
        pattern: the codebooks pattern config read with ``alignment: pattern`` (the format of
            ``transformer_lm``'s ``codebooks_pattern``: ``modeling`` and each provider's arguments).
        kernel: one of ``audiocraft_mmd.losses.KERNELS``; ``kernel_params`` its parameters (None: paper's).
        stream: ``quantized`` (each RVQ stage's code vector, paper) or ``residual`` (official code).
        frames_per_item: keep this many random aligned frames per clip to bound the sample count S.
        gradient_checkpointing: recompute the encoder in the MMD backward instead of storing it (macro-batch
            mode: the bank mode does not re-encode).
        chunk_size: rows per block in the MMD (None: automatic).
        scale: ``fixed`` (paper), ``standardized`` or ``median`` (blind to the latent's overall scale),
            see ``audiocraft_mmd.losses.scale_samples``.
        gather: one MMD over the macro-batches of all ranks (all-gathered; each rank's gradient through its
            own samples), as with one big GPU; off (the paper: 1280 samples per GPU) each rank has its own.
    """
    weight: float = 1e3
    mode: str = 'macro_batch'
    num_batches: int = 32
    alignment: str = 'delay'
    pattern: tp.Optional[tp.Dict[str, tp.Any]] = None
    kernel: str = 'multiscale_gaussian'
    kernel_params: tp.Optional[tp.Dict[str, tp.Any]] = None
    stream: str = 'quantized'
    frames_per_item: tp.Optional[int] = None
    gradient_checkpointing: bool = True
    chunk_size: tp.Optional[int] = None
    scale: str = 'fixed'
    gather: bool = False

    @classmethod
    def from_cfg(cls, cfg: omegaconf.DictConfig) -> 'MMDConfig':
        """Read and validate ``cfg.mmd``; raises `MMDConfigError` naming the key (all problems at once)."""
        if 'mmd' not in cfg or cfg.mmd is None:
            raise MMDConfigError("solver 'compression_mmd' needs an `mmd:` block: use "
                                 "solver=compression/encodec_mmd_32khz or add `- /mmd: default` to your solver config.")
        raw = omegaconf.OmegaConf.to_container(cfg.mmd, resolve=True)
        assert isinstance(raw, dict)
        known = sorted(f.name for f in fields(cls))
        problems = []
        for key in sorted(set(raw) - set(known)):
            near = nearest_key(key, known)
            hint = f"did you mean mmd.{near}?" if near else f"valid keys: {', '.join('mmd.' + k for k in known)}."
            problems.append(MMDConfigError(f"Unknown key mmd.{key}; {hint}"))
        config = cls(**{key: value for key, value in raw.items() if key in known})
        problems += config.problems()
        raise_all(problems)
        return config

    def validate(self) -> None:
        """Raise every problem of `problems` at once."""
        raise_all(self.problems())

    def problems(self) -> tp.List[MMDConfigError]:
        """Every setting that cannot work, one error each naming its key."""
        problems = []
        if not isinstance(self.weight, (int, float)) or not math.isfinite(self.weight) or self.weight < 0:
            problems.append(f"mmd.weight must be a finite number >= 0 (0 measures without training), "
                            f"got {self.weight!r}.")
        if not isinstance(self.num_batches, int) or self.num_batches < 1:
            problems.append(f"mmd.num_batches must be an integer >= 1 (paper: 32), got {self.num_batches!r}.")
        if (problem := choice_problem('mmd.mode', self.mode, MODES)) is not None:
            problems.append(problem)
        if (problem := choice_problem('mmd.stream', self.stream, STREAMS)) is not None:
            problems.append(problem)
        if not isinstance(self.gather, bool):
            problems.append(f"mmd.gather must be true or false, got {self.gather!r}.")
        problems += loss_problems(self.alignment, self.pattern, self.kernel, self.kernel_params, self.scale,
                                  self.frames_per_item, self.chunk_size, prefix='mmd.')
        return [MMDConfigError(p) for p in problems]

    def frames_used(self, num_frames: int, num_codebooks: int) -> int:
        """Aligned frames per clip that enter the MMD, for clips of ``num_frames`` frames (the fewest over
        the alignment's groups of codes)."""
        aligned = aligned_length(num_frames, self.code_groups(num_codebooks))
        return aligned if self.frames_per_item is None else min(aligned, self.frames_per_item)

    def code_groups(self, num_codebooks: int) -> tp.Tuple[CodeGroup, ...]:
        """The groups of codes of ``mmd.alignment`` (and ``mmd.pattern``) for K codebooks; `MMDConfigError`
        naming the keys when the pattern does not fit K or predicts no two codes together."""
        try:
            return code_groups(num_codebooks, self.alignment, self.pattern)
        except ValueError as exc:
            keys = f"mmd.alignment={self.alignment}" + (
                f" with mmd.pattern={self.pattern}" if self.alignment == 'pattern' else '')
            raise MMDConfigError(f"{keys}: {exc}") from None

    def model_problems(self, num_codebooks: int, num_frames: int, batch_size: int) -> tp.List[MMDConfigError]:
        """Every model/data shape the loss cannot work with (checked before any training).

        Args:
            num_codebooks: K of the quantizer. num_frames: frames per training clip.
            batch_size: clips per batch on one GPU.
        """
        try:
            groups = self.code_groups(num_codebooks)
        except MMDConfigError as exc:
            return [exc]
        span = max(group.span for group in groups)
        if num_frames <= span:
            return [MMDConfigError(f"mmd.alignment={self.alignment} reads codes {span} frames apart: it needs clips "
                                   f"of at least {span + 1} frames, got {num_frames} (dataset.segment_duration "
                                   "too short).")]
        samples = batch_size * self.frames_used(num_frames, num_codebooks)
        if self.mode == 'bank' and samples < 2:
            return [MMDConfigError(
                f"mmd.mode=bank: one batch holds {samples} sample(s) ({batch_size} clips x "
                f"{self.frames_used(num_frames, num_codebooks)} frames) and an epoch's first step has only its own; "
                "the MMD needs at least 2: raise dataset.batch_size, dataset.segment_duration or mmd.frames_per_item.")]
        if samples * self.num_batches < 2:
            return [MMDConfigError(
                f"A macro-batch holds {samples * self.num_batches} sample(s) (mmd.num_batches={self.num_batches} x "
                f"{batch_size} clips x {self.frames_used(num_frames, num_codebooks)} frames); the MMD needs at "
                "least 2: raise mmd.num_batches, dataset.batch_size, dataset.segment_duration or mmd.frames_per_item.")]
        return []

    def check_model(self, num_codebooks: int, num_frames: int, batch_size: int) -> None:
        """Raise the problems of :meth:`model_problems`."""
        raise_all(self.model_problems(num_codebooks, num_frames, batch_size))
