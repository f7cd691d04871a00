"""A point codec (MLP encoder, AudioCraft's RVQ or the plugin's PVQ, MLP decoder) trained with and without the
MMD through the solver's own functions.

This is the minimal model of the planted-dependence experiment, not the solver on audio: a SEANet codec on
synthetic audio takes minutes per run before its codes mean anything, and a sweep needs dozens of runs in
a few minutes on a CPU. What it shares with `CompressionMMDSolver`, so that what it shows is what the solver
does: the quantizer's training forward (k-means init, EMA, dead-code expiry, commitment), the MMD's input
(`audiocraft_mmd.quantization.mmd_vectors` on a re-encoded macro-batch kept by the solver's `MacroBatch`),
the loss (`MMDLoss.from_config`: every ``mmd.scale``, kernel and alignment, validated as the solver does),
the MMD backward run on its own before the regular one and joined in the same optimizer step, or, with
``mmd.mode: bank``, the solver's `SampleBank` on the regular forward's latent; the solver's `ShrinkageWatch`;
and draws from a generator of its own. Each point is one frame: latents are [B, 2, 1].
"""
from dataclasses import asdict, dataclass, field
import typing as tp

import torch
from torch import nn

from ..losses import MMDConfig, MMDLoss, SampleBank, ShrinkageWatch
from ..metrics.dependence import codebook_dependence
from ..quantization import ProductVectorQuantizer, codebooks_initialised, latent_rms, mmd_vectors
from ..solvers.macro_batch import MacroBatch
from .data import RotatedClusters

QUANTIZERS = ('rvq', 'pvq')
TEST_SEED = 1_234_567  # the held-out points and the measurement's draws: the same for every run


@dataclass(frozen=True)
class PlantedSettings:
    """The recipe of one planted run (the sweep varies the MMD weight, ``mmd.scale`` and the seed).

    Attributes:
        quantizer: ``rvq`` (AudioCraft's `ResidualVectorQuantizer`) or ``pvq`` (the plugin's product quantizer).
        bins: entries per codebook (2 codebooks).
        steps: optimizer steps; batch_size: points per step.
        num_batches: ``mmd.num_batches``: batches per MMD macro-batch (1: an MMD step at every step), or
            batches the bank spans.
        mode: ``mmd.mode``: ``macro_batch`` (re-encode the macro-batch every ``num_batches`` steps) or ``bank``
            (an MMD at every step over the bank of the last ``num_batches`` batches, `SampleBank`).
        alignment: ``mmd.alignment`` (points are single frames: ``parallel``).
        lr: Adam's learning rate; hidden: width of the two hidden layers of the encoder and of the decoder.
        test_points: held-out points for the dependence I and the reconstruction.
        mmd_points: held-out points for the MMD estimates (fixed bandwidths and scale-free).
        data: the planted distribution.
    """
    quantizer: str = 'rvq'
    bins: int = 8
    steps: int = 2000
    batch_size: int = 256
    num_batches: int = 1
    mode: str = 'macro_batch'
    alignment: str = 'parallel'
    lr: float = 1e-3
    hidden: int = 64
    test_points: int = 100_000
    mmd_points: int = 1024
    data: RotatedClusters = field(default_factory=RotatedClusters)

    def to_dict(self) -> tp.Dict[str, tp.Any]:
        return asdict(self)

    @property
    def report_name(self) -> str:
        """``planted-QUANTIZER``, with ``-MODE-NUM_BATCHES`` when the MMD is not computed at every step."""
        default = PlantedSettings()
        schedule = '' if (self.mode, self.num_batches) == (default.mode, default.num_batches) else \
            f"-{self.mode}-{self.num_batches}"
        return f"planted-{self.quantizer}{schedule}"


def _mlp(inputs: int, outputs: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, outputs))


class PointCodec(nn.Module):
    """Encoder MLP -> 2-codebook quantizer -> decoder MLP on 2-D points (one frame each).

    Args:
        quantizer: ``rvq`` or ``pvq`` (each codebook over one of the 2 latent dimensions).
        bins: entries per codebook.
        hidden: width of the hidden layers.
    """
    def __init__(self, quantizer: str = 'rvq', bins: int = 8, hidden: int = 64):
        super().__init__()
        if quantizer not in QUANTIZERS:
            raise ValueError(f"quantizer must be one of {', '.join(QUANTIZERS)}, got {quantizer!r}.")
        from audiocraft.quantization.vq import ResidualVectorQuantizer
        self.encoder = _mlp(2, 2, hidden)
        self.decoder = _mlp(2, 2, hidden)
        self.quantizer: tp.Union[ResidualVectorQuantizer, ProductVectorQuantizer] = (
            ResidualVectorQuantizer(dimension=2, n_q=2, bins=bins) if quantizer == 'rvq'
            else ProductVectorQuantizer(dimension=2, n_q=2, bins=bins))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent [B, 2, 1] of points [B, 2]."""
        return self.encoder(x)[:, :, None]

    def forward(self, x: torch.Tensor) -> tp.Tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction [B, 2] of points [B, 2] through the quantizer (its training forward in train
        mode), and the quantizer's commitment penalty."""
        return self.reconstruct(self.encode(x))

    def reconstruct(self, emb: torch.Tensor) -> tp.Tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction [B, 2] of a latent [B, 2, 1] and the commitment penalty (see `forward`)."""
        quantized = self.quantizer(emb, frame_rate=1)
        return self.decoder(quantized.x[:, :, 0]), quantized.penalty

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Points [B, 2] of codes [B, 2, 1]."""
        return self.decoder(self.quantizer.decode(codes)[:, :, 0])


def mmd_config(weight: float, scale: str, settings: PlantedSettings) -> MMDConfig:
    """The ``mmd:`` block of a planted run, validated as the solver validates it."""
    config = MMDConfig(weight=weight, num_batches=settings.num_batches, alignment=settings.alignment, scale=scale,
                       mode=settings.mode)
    config.validate()
    return config


@dataclass
class PlantedTraining:
    """A trained point codec and what its training logged.

    Attributes:
        codec: the codec, in eval mode.
        mmd_trace: the MMD of each MMD step (at the scale it trains with), in order; empty with weight 0.
        shrinkage_warning: what the solver's `ShrinkageWatch` said during training (None: nothing).
        shrinkage_step: the step it said it at.
    """
    codec: PointCodec
    mmd_trace: tp.List[float]
    shrinkage_warning: tp.Optional[str] = None
    shrinkage_step: tp.Optional[int] = None


def train_planted(weight: float, scale: str, seed: int, settings: PlantedSettings = PlantedSettings()
                  ) -> PlantedTraining:
    """Train a `PointCodec` for ``settings.steps`` steps on points of ``settings.data``: MSE + commitment
    through the quantizer, and ``weight`` x MMD as `CompressionMMDSolver` computes it (``settings.mode``: on every
    re-encoded macro-batch in its own backward, or at every step over the `SampleBank`), with its `ShrinkageWatch`
    fed every 10 MMD steps. With weight 0 no MMD is computed (the solver measures and logs it; here the held-out
    measurement does): the codec is the same either way.

    Draws: the weights and the quantizer's k-means init and dead-code resets come from torch's global RNG
    (AudioCraft's quantizer takes no generator), seeded with ``seed``; the training points and the MMD's
    permutations from generators of their own seeded from ``seed``. The same call gives the same codec, bit
    for bit, on one machine.
    """
    config = mmd_config(weight, scale, settings)
    torch.manual_seed(seed)
    codec = PointCodec(settings.quantizer, settings.bins, settings.hidden)
    optimizer = torch.optim.Adam([*codec.encoder.parameters(), *codec.decoder.parameters()], lr=settings.lr)
    loss_fn = MMDLoss.from_config(config, collapse_check_every=10)  # the solver's cadence
    watch = ShrinkageWatch(scale)
    result = PlantedTraining(codec, [])
    data_rng = torch.Generator().manual_seed(seed)
    mmd_rng = torch.Generator().manual_seed(seed + 1)
    macro_batch = MacroBatch(config.num_batches)
    bank = SampleBank(loss_fn, config.num_batches)

    def observe(step: int, mmd: torch.Tensor, emb: torch.Tensor) -> None:
        result.mmd_trace.append(float(mmd.detach()))
        if loss_fn.last_scale_free is not None:
            warning = watch.update(float(mmd.detach()), loss_fn.last_scale_free, latent_rms(emb))
            if warning is not None:
                result.shrinkage_warning, result.shrinkage_step = warning, step

    codec.train()
    for step in range(settings.steps):
        x = settings.data.sample(settings.batch_size, data_rng)
        if config.mode == 'bank':
            # the solver's bank mode: the MMD of this step's encoder output (codebooks as the quantizer's forward
            # finds them) over the bank, its gradient joined to the regular one through the same latent
            emb = codec.encode(x)
            mmd_term = emb.new_zeros(())
            if weight > 0 and codebooks_initialised(codec.quantizer):
                mmd = bank(mmd_vectors(codec.quantizer, emb, config.stream, mmd_rng), generator=mmd_rng)
                mmd_term = weight * mmd
                observe(step, mmd, emb)
            reconstruction, penalty = codec.reconstruct(emb)
            (nn.functional.mse_loss(reconstruction, x) + penalty + mmd_term).backward()
        else:
            macro_batch.add(x)
            due = (macro_batch.full or step == settings.steps - 1) and weight > 0
            if due and not codebooks_initialised(codec.quantizer):
                macro_batch.clear()  # the first step's: the codebooks get their k-means init in this step's forward
            elif due:
                # the solver's order: re-encode the macro-batch with the current weights, MMD backward first
                emb = codec.encode(macro_batch.pop())
                mmd = loss_fn(mmd_vectors(codec.quantizer, emb, config.stream, mmd_rng), generator=mmd_rng)
                (weight * mmd).backward()
                observe(step, mmd, emb)
            reconstruction, penalty = codec(x)
            (nn.functional.mse_loss(reconstruction, x) + penalty).backward()
        optimizer.step()
        optimizer.zero_grad()
    codec.eval()
    return result


@torch.no_grad()
def measure_planted(codec: PointCodec, settings: PlantedSettings = PlantedSettings()) -> tp.Dict[str, tp.Any]:
    """Every figure of a trained codec on ``settings.test_points`` held-out points (the same points and draws
    for every codec).

    Returns a dict: ``tc_percent`` (the dependence I of `codebook_dependence`, parallel alignment, bias-corrected)
    and ``tc_samples``; ``mmd`` (fixed bandwidths), ``mmd_scale_free`` (standardized samples) and ``mmd_median``
    (``mmd.scale=median``) over the first ``mmd_points`` points, with the same draws for every codec;
    ``latent_rms``; ``mse`` and ``relative_mse`` (over the points' variance: 1 transmits nothing);
    ``shuffled_relative_mse`` (each codebook's codes shuffled across points); ``codebook_entropy_bits`` (the
    dependence result's marginal entropies, as the codec measurement reports them).
    """
    codec.eval()
    rng = torch.Generator().manual_seed(TEST_SEED)
    x = settings.data.sample(settings.test_points, rng)
    emb = codec.encode(x)
    codes = codec.quantizer.encode(emb)  # [N, K, 1]
    dependence = codebook_dependence(codes, settings.bins, alignment=settings.alignment,
                                     generator=torch.Generator().manual_seed(TEST_SEED))
    mse = float((codec.decode(codes) - x).pow(2).sum(dim=1).mean())
    shuffled = torch.stack([codes[torch.randperm(len(codes), generator=rng), k] for k in range(codes.shape[1])], dim=1)
    shuffled_mse = float((codec.decode(shuffled) - x).pow(2).sum(dim=1).mean())
    vectors = mmd_vectors(codec.quantizer, emb[:settings.mmd_points], 'quantized', rng)
    mmds = {}
    for key, scale in (('mmd', 'fixed'), ('mmd_scale_free', 'standardized'), ('mmd_median', 'median')):
        loss = MMDLoss.from_config(MMDConfig(alignment=settings.alignment, scale=scale))
        mmds[key] = float(loss(vectors, generator=torch.Generator().manual_seed(TEST_SEED)))
    variance = settings.data.variance
    return {
        'tc_percent': float(dependence.tc_percent), 'tc_samples': int(dependence.num_samples), **mmds,
        'latent_rms': latent_rms(emb), 'mse': mse, 'relative_mse': mse / variance,
        'shuffled_relative_mse': shuffled_mse / variance,
        'codebook_entropy_bits': [float(h) for h in dependence.marginal_entropy_bits],
    }
