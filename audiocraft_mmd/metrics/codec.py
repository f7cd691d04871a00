"""One measurement path for a codec: everything the solver's evaluate stage, the demo and
``audiocraft-mmd dependence`` report, from one pass over the audio.

:class:`CodecMeter` takes batches of audio [B, C, L] and, for each, encodes once and decodes twice
(the real codes, and the same codes shuffled in time). It accumulates:

- the codebook dependence (the paper's I, both alignments, see :mod:`.dependence`);
- the MMD with the XP's kernel and alignment, twice: with the paper's fixed bandwidths (``mmd``,
  whatever ``mmd.scale`` the XP trained with, so that codecs compare) and scale-free
  (``mmd_scale_free``: samples standardized), over macro-batches of ``macro_clips`` clips, with
  draws from generators seeded once, so that two codecs measured on the same audio get the same draws;
- the latent scale (rms of the encoder output), MSSpec and SI-SNR of the reconstruction;
- the code ablation gap: SI-SNR with the real codes minus SI-SNR with the codes shuffled in time.
  A decoder that ignores its codes has a gap of ~0 dB, whatever its MSSpec.

:func:`working_codec_checks` turns a :class:`CodecMeasurement` into pass/fail checks: a comparison of
two codecs is evidence only if both pass them.
"""
import math
import typing as tp
from dataclasses import dataclass
from pathlib import Path

import torch
from audiocraft.data.audio import audio_read
from audiocraft.data.audio_utils import convert_audio
from audiocraft.models import CompressionModel, EncodecModel
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from ..data.audio_check import read_manifest
from ..errors import ConfigurationError, MissingDataError
from ..alignment import BUILTIN_ALIGNMENTS, PatternConfig
from ..quantization import SUPPORTED
from .dependence import DependenceAccumulator, DependenceResult, GroupedDependence

# Working-codec thresholds (issue 9): the decoder must use its codes, reconstruct, and use its codebooks.
MIN_CODE_ABLATION_GAP_DB = 10.0
MIN_SISNR_DB = 0.0
MIN_USAGE_FRACTION = 0.5  # of log2(bins), for every codebook

# audiocraft's compression/default.yaml losses, for a released model measured without its XP config.
_DEFAULT_LOSSES = {
    'msspec': {'range_start': 6, 'range_end': 11, 'n_mels': 64, 'f_min': 64, 'f_max': None, 'normalized': True,
               'alphas': False, 'floor_level': 1e-5},
    'sisnr': {'segment': 5.},
}


def manifest_file(manifest_dir: tp.Union[str, Path]) -> Path:
    """``data.jsonl`` or ``data.jsonl.gz`` of an AudioCraft manifest folder (or the file itself)."""
    from ..datasource import manifest_path
    path = manifest_path(str(manifest_dir))
    if path is not None:
        return path
    raise MissingDataError(f"No manifest at {manifest_dir}: expected a folder with data.jsonl or data.jsonl.gz "
                           "(`audiocraft-mmd manifest AUDIO_DIR OUT_DIR` writes one).")


def iter_segments(manifest_dir: tp.Union[str, Path], sample_rate: int, channels: int, segment_duration: float,
                  max_segments: tp.Optional[int] = None) -> tp.Iterator[torch.Tensor]:
    """Consecutive non-overlapping segments [C, L] of every file of the manifest, in manifest order.

    Each file is converted to ``sample_rate`` and ``channels``; a last piece shorter than
    ``segment_duration`` is dropped.
    """
    if segment_duration <= 0:
        raise ConfigurationError(f"--segment-duration must be > 0, got {segment_duration}.")
    length = int(segment_duration * sample_rate)
    count = 0
    for meta in read_manifest(manifest_file(manifest_dir)):
        wav, sr = audio_read(meta.path)
        wav = convert_audio(wav, sr, sample_rate, channels)
        for start in range(0, wav.shape[-1] - length + 1, length):
            if max_segments is not None and count >= max_segments:
                return
            count += 1
            yield wav[:, start:start + length]


def stack_batches(segments: tp.Iterable[torch.Tensor], batch_size: int) -> tp.Iterator[torch.Tensor]:
    """Segments [C, L] stacked ``batch_size`` at a time into [B, C, L] (the last batch may be smaller)."""
    batch: tp.List[torch.Tensor] = []
    for segment in segments:
        batch.append(segment)
        if len(batch) == batch_size:
            yield torch.stack(batch)
            batch = []
    if batch:
        yield torch.stack(batch)


@dataclass
class Check:
    """One working-codec check: its name, whether it passed, and the numbers behind it."""
    name: str
    passed: bool
    detail: str


@dataclass
class CodecMeasurement:
    """Everything measured on a codec over ``num_clips`` clips of ``clip_seconds`` seconds.

    ``mmd`` is the MMD with fixed bandwidths (None for a codec without an RVQ encoder latent),
    ``mmd_scale_free`` the same with standardized samples; ``mmd_samples`` is the number of joint
    samples both were estimated from. SI-SNRs are in dB (higher is better); MSSpec is audiocraft's loss.
    """
    dependence: tp.Dict[str, tp.Union[DependenceResult, GroupedDependence]]
    cardinality: int
    num_clips: int
    clip_seconds: float
    msspec: float
    sisnr_db: float
    sisnr_shuffled_db: float
    mmd: tp.Optional[float] = None
    mmd_scale_free: tp.Optional[float] = None
    mmd_samples: int = 0
    latent_rms: tp.Optional[float] = None

    @property
    def code_ablation_gap_db(self) -> float:
        """SI-SNR with the real codes minus SI-SNR with the codes shuffled in time."""
        return self.sisnr_db - self.sisnr_shuffled_db

    @property
    def codebook_entropy_bits(self) -> tp.List[float]:
        """Entropy of each codebook's codes (log2 of the bins at most), over every frame (the parallel
        alignment's samples; the delay-aligned ones when only delay was measured)."""
        result = self.dependence.get('parallel') or self.dependence.get('delay')
        if result is None:  # only a pattern: its groups' marginals
            grouped = self.dependence['pattern']
            assert isinstance(grouped, GroupedDependence)
            entropy = {q: float(h) for group, r in zip(grouped.groups, grouped.results)
                       for q, h in zip(group.codebooks, r.marginal_entropy_bits)}
            return [entropy[q] for q in sorted(entropy)]
        assert isinstance(result, DependenceResult)
        return [float(v) for v in result.marginal_entropy_bits]

    def to_metrics(self) -> tp.Dict[str, float]:
        """Flat figures, as a solver stage reports them."""
        metrics: tp.Dict[str, float] = {f'tc_percent_{name}': result.tc_percent
                                        for name, result in self.dependence.items()}
        metrics.update(msspec=self.msspec, sisnr_db=self.sisnr_db, sisnr_shuffled_db=self.sisnr_shuffled_db,
                       code_ablation_gap_db=self.code_ablation_gap_db,
                       codebook_entropy_min_bits=min(self.codebook_entropy_bits),
                       codebook_entropy_mean_bits=sum(self.codebook_entropy_bits) / len(self.codebook_entropy_bits))
        for name in ('mmd', 'mmd_scale_free', 'latent_rms'):
            value = getattr(self, name)
            if value is not None:
                metrics[name] = value
        if self.mmd is not None:
            metrics['mmd_samples'] = self.mmd_samples
        return metrics

    def to_dict(self) -> tp.Dict[str, tp.Any]:
        """Every figure, JSON-serialisable, with the full dependence report of each alignment (``alignments``)."""
        return {**self.to_metrics(), 'num_clips': self.num_clips, 'clip_seconds': self.clip_seconds,
                'cardinality': self.cardinality,
                'codebook_entropy_bits': self.codebook_entropy_bits,
                'dependence_samples': {name: r.num_samples for name, r in self.dependence.items()},
                'checks': [vars(check) for check in working_codec_checks(self)],
                'alignments': {name: result.to_dict() for name, result in self.dependence.items()}}


def format_measurement(measured: CodecMeasurement) -> str:
    """The codec figures and the working-codec checks, a line each."""
    def fmt(value: tp.Optional[float], spec: str) -> str:
        return 'n/a' if value is None else format(value, spec)
    lines = [f"{measured.num_clips} clips of {measured.clip_seconds:g} s",
             f"MSSpec {measured.msspec:.4f}   SI-SNR {measured.sisnr_db:.2f} dB   codes shuffled in time "
             f"{measured.sisnr_shuffled_db:.2f} dB (code ablation gap {measured.code_ablation_gap_db:.1f} dB)",
             f"MMD (fixed bandwidths) {fmt(measured.mmd, '.3e')}   scale-free MMD {fmt(measured.mmd_scale_free, '.3e')}"
             f"   over {measured.mmd_samples:,} samples   latent rms {fmt(measured.latent_rms, '.4g')}"]
    for check in working_codec_checks(measured):
        lines.append(f"[{'ok' if check.passed else 'FAIL'}] {check.name}: {check.detail}")
    return '\n'.join(lines)


def working_codec_checks(measured: CodecMeasurement) -> tp.List[Check]:
    """Does the codec transmit the music? Its decoder uses the codes (code ablation gap), it
    reconstructs (SI-SNR) and it uses its codebooks (every codebook's entropy)."""
    gap, sisnr = measured.code_ablation_gap_db, measured.sisnr_db
    half = MIN_USAGE_FRACTION * math.log2(measured.cardinality)
    entropies = measured.codebook_entropy_bits
    return [
        Check('decoder uses the codes', gap >= MIN_CODE_ABLATION_GAP_DB,
              f"code ablation gap {gap:.1f} dB (SI-SNR {sisnr:.2f} dB real codes, {measured.sisnr_shuffled_db:.2f} dB "
              f"codes shuffled in time; needs >= {MIN_CODE_ABLATION_GAP_DB:g} dB)"),
        Check('reconstructs', sisnr >= MIN_SISNR_DB, f"SI-SNR {sisnr:.2f} dB (needs >= {MIN_SISNR_DB:g} dB)"),
        Check('uses its codebooks', min(entropies) >= half,
              f"codebook entropies {', '.join(f'{e:.2f}' for e in entropies)} bits (needs >= {half:g} each, "
              f"half of log2({measured.cardinality}))"),
    ]


def _loss_config(model: CompressionModel, cfg: tp.Optional[DictConfig]) -> DictConfig:
    """The ``msspec`` and ``sisnr`` settings of the XP, or audiocraft's defaults for a released model."""
    losses = {name: {**(cfg[name] if cfg is not None and name in cfg else default), 'sample_rate': model.sample_rate}
              for name, default in _DEFAULT_LOSSES.items()}
    return OmegaConf.create(losses)


class CodecMeter:
    """Measures a codec over batches of audio (see the module docstring).

    Args:
        model: any AudioCraft compression model with at least 2 codebooks; the MMD and the latent scale
            need an `EncodecModel` with an RVQ (None for other models).
        cfg: the config of the XP that trained it (its ``mmd``, ``msspec`` and ``sisnr`` blocks are used),
            or None: the paper's MMD settings and audiocraft's default losses.
        macro_clips: clips per MMD estimate; the MMD is the sample-weighted mean over macro-batches.
        seed: seeds the MMD draws, the time shuffles and the dependence null.
        alignments: the alignments of the dependence figures; ``pattern`` is added when the XP's MMD was
            trained with ``mmd.alignment=pattern``.
        pattern: the codebooks pattern config of the ``pattern`` alignment (default: the XP's ``mmd.pattern``).
    """

    def __init__(self, model: CompressionModel, cfg: tp.Optional[DictConfig] = None, macro_clips: int = 32,
                 seed: int = 0, alignments: tp.Sequence[str] = BUILTIN_ALIGNMENTS,
                 pattern: tp.Optional[PatternConfig] = None):
        from audiocraft.solvers import builders
        from ..losses import MMDConfig, MMDLoss
        if macro_clips < 1:
            raise ConfigurationError(f"macro_clips must be >= 1, got {macro_clips}.")
        self.model = model.eval()
        self.device = next(model.parameters()).device
        losses = _loss_config(model, cfg)
        self.msspec = builders.get_loss('msspec', losses).to(self.device)
        self.sisnr = builders.get_loss('sisnr', losses).to(self.device)
        self.mmd_cfg = MMDConfig.from_cfg(cfg) if cfg is not None and cfg.get('mmd') is not None else MMDConfig()
        # the quantizers whose per-codebook vectors the MMD reads (RVQ, PVQ); others: dependence and audio only
        self.reads_vectors = isinstance(model, EncodecModel) and isinstance(model.quantizer, SUPPORTED)
        self.mmd_loss = MMDLoss.from_config(self.mmd_cfg, scale='fixed', gather=False)
        self.scale_free_loss = MMDLoss.from_config(self.mmd_cfg, scale='standardized', gather=False)
        self.macro_clips = macro_clips
        self.seed = seed
        self._generators = [torch.Generator().manual_seed(seed) for _ in range(2)]  # same draws for both MMDs
        self._shuffle_rng = torch.Generator().manual_seed(seed + 1)
        if self.mmd_cfg.alignment == 'pattern' and 'pattern' not in alignments:
            alignments = (*alignments, 'pattern')
        pattern = self.mmd_cfg.pattern if pattern is None else pattern
        self.accumulators = {name: DependenceAccumulator(model.num_codebooks, model.cardinality, alignment=name,
                                                         pattern=pattern if name == 'pattern' else None)
                             for name in alignments}
        self._pending: tp.List[torch.Tensor] = []
        self._mmd_sums = [0.0, 0.0]
        self._mmd_samples = 0
        self._sums = {'msspec': 0.0, 'sisnr': 0.0, 'sisnr_shuffled': 0.0, 'latent_sq': 0.0, 'latent_n': 0.0}
        self.num_clips = 0
        self.clip_seconds = 0.0
        self._merged = False

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> torch.Tensor:
        """Measure a batch of audio [B, C, L]; returns its reconstruction [B, C, L]."""
        from ..quantization import encode_latent, mmd_vectors
        model = self.model
        x = x.to(self.device)
        if self.reads_vectors:
            assert isinstance(model, EncodecModel)
            emb, scale = encode_latent(model, x)
            codes = model.quantizer.encode(emb)  # [B, K, T]
            self._pending.append(mmd_vectors(model.quantizer, emb, self.mmd_cfg.stream).cpu())
            self._sums['latent_sq'] += float(emb.double().pow(2).sum())
            self._sums['latent_n'] += emb.numel()
            if sum(v.shape[0] for v in self._pending) >= self.macro_clips:
                self._close_macro_batch()
        else:
            codes, scale = model.encode(x)
        y = model.decode(codes, scale)[..., :x.shape[-1]]
        order = torch.randperm(codes.shape[-1], generator=self._shuffle_rng).to(codes.device)
        y_shuffled = model.decode(codes[..., order], scale)[..., :x.shape[-1]]
        batch = x.shape[0]
        self._sums['msspec'] += batch * float(self.msspec(y, x))
        self._sums['sisnr'] += batch * -float(self.sisnr(y, x))  # audiocraft's SISNR loss is -SI-SNR
        self._sums['sisnr_shuffled'] += batch * -float(self.sisnr(y_shuffled, x))
        for accumulator in self.accumulators.values():
            accumulator.update(codes.cpu())
        self.num_clips += batch
        self.clip_seconds = x.shape[-1] / model.sample_rate
        return y

    def _close_macro_batch(self) -> None:
        vectors = torch.cat(self._pending)
        self._pending.clear()
        samples = vectors.shape[0] * self.mmd_cfg.frames_used(vectors.shape[-1], vectors.shape[1])
        if samples < 2:
            return
        for i, (loss, generator) in enumerate(zip((self.mmd_loss, self.scale_free_loss), self._generators)):
            self._mmd_sums[i] += samples * float(loss(vectors, generator=generator))
        self._mmd_samples += samples

    def _merge_ranks(self) -> None:
        """With several ranks (a process group), make every figure cover every rank's clips: the dependence
        tuples are gathered in the global clip order (`DependenceAccumulator.merge_ranks`), so the
        dependence figures are those of one rank on the whole set; the sums of MSSpec, SI-SNR, latent
        energy and the MMD macro-batches are added up. Each rank's MMD macro-batches hold its own clips,
        so the merged MMD is the sample-weighted mean over all ranks' macro-batches, not the same
        macro-batches as one rank would form; the time shuffles of the code ablation are drawn per rank.
        A collective: every rank calls `result` once."""
        from ..losses.gather import world
        if world()[1] == 1 or self._merged:
            return
        self._merged = True
        for accumulator in self.accumulators.values():
            accumulator.merge_ranks()
        keys = list(self._sums)
        totals = torch.tensor([*(self._sums[k] for k in keys), *self._mmd_sums, self._mmd_samples, self.num_clips],
                              dtype=torch.float64, device=self.device)  # NCCL reduces on the GPU
        torch.distributed.all_reduce(totals)
        values = totals.tolist()
        self._sums = dict(zip(keys, values[:len(keys)]))
        self._mmd_sums = values[len(keys):len(keys) + 2]
        self._mmd_samples, self.num_clips = int(values[-2]), int(values[-1])

    def result(self, **dependence_kwargs: tp.Any) -> CodecMeasurement:
        """The figures of everything measured so far.

        Args:
            dependence_kwargs: passed to `DependenceAccumulator.result` (correction, permutations);
                the null's generator defaults to the meter's seed.
        """
        if self._pending:
            self._close_macro_batch()
        self._merge_ranks()
        if self.num_clips == 0:
            raise MissingDataError("No audio was measured: the data held no clip.")
        dependence_kwargs.setdefault('generator', self.seed)
        n = self.num_clips
        mmd = scale_free = latent = None
        if self._mmd_samples:
            mmd, scale_free = (total / self._mmd_samples for total in self._mmd_sums)
        if self._sums['latent_n']:
            latent = math.sqrt(self._sums['latent_sq'] / self._sums['latent_n'])
        return CodecMeasurement(
            dependence={name: acc.result(**dependence_kwargs) for name, acc in self.accumulators.items()},
            cardinality=self.model.cardinality, num_clips=n, clip_seconds=self.clip_seconds,
            msspec=self._sums['msspec'] / n, sisnr_db=self._sums['sisnr'] / n,
            sisnr_shuffled_db=self._sums['sisnr_shuffled'] / n, mmd=mmd, mmd_scale_free=scale_free,
            mmd_samples=self._mmd_samples, latent_rms=latent)


def measure_codec(model: CompressionModel, manifest_dir: tp.Union[str, Path], cfg: tp.Optional[DictConfig] = None,
                  segment_duration: float = 5., max_segments: tp.Optional[int] = None, batch_size: int = 8,
                  macro_clips: int = 32, seed: int = 0, alignments: tp.Sequence[str] = BUILTIN_ALIGNMENTS,
                  pattern: tp.Optional[PatternConfig] = None, progress: bool = True, desc: str = 'measuring',
                  **dependence_kwargs: tp.Any) -> CodecMeasurement:
    """Measure a codec on a manifest cut into consecutive segments (see `iter_segments`, `CodecMeter`)."""
    meter = CodecMeter(model, cfg, macro_clips=macro_clips, seed=seed, alignments=alignments, pattern=pattern)
    segments = iter_segments(manifest_dir, model.sample_rate, model.channels, segment_duration, max_segments)
    progress_bar = tqdm(segments, total=max_segments, desc=desc, unit='segment', disable=not progress, leave=False)
    for batch in stack_batches(progress_bar, batch_size):
        meter.update(batch)
    if meter.num_clips == 0:
        raise MissingDataError(f"{manifest_dir}: no audio file is at least {segment_duration} s long; "
                               "lower --segment-duration.")
    return meter.result(**dependence_kwargs)
