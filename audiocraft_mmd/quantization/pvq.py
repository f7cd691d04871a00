"""Product vector quantizer (PVQ) with optional hierarchical dropout (paper Appendix C, Table 4).

The latent's D dimensions are split into K contiguous groups of D/K; group k is quantized by its own
codebook, an AudioCraft ``VectorQuantization`` (EMA centroids, k-means init, dead-code expiry, the same
as one stage of AudioCraft's RVQ). Unlike RVQ the codebooks do not depend on each other: code k is
the nearest centroid of slice k alone.

``q_dropout`` (PVQ-dropout): in training, item b keeps the first ``k_b`` codebooks, ``k_b`` uniform in
1..K, and the quantized vectors of the others are put to 0 before decoding, which gives the codes a
hierarchy (paper App. C). ``decode`` with fewer than K codebooks zero-fills the missing groups, so a
codec trained with dropout decodes at lower bitrates.

Dropout is drawn **per item**, not once per batch as AudioCraft's RVQ does: PVQ's groups are independent,
so a per-item mask costs one multiplication, every batch then trains every bitrate, and the draw has the
same form as the MMD solver's per-item gradient mask (`dropout_gradient_mask`). All K codebooks are
still run on every item in training (EMA, dead-code expiry and commitment on every group): the slice of
a dropped group exists whatever the draw, so its codebook keeps tracking it. The draws come from
``dropout_generator`` when set (the MMD solver seeds one per epoch, so a resumed run draws the same
masks), else from torch's global RNG, as AudioCraft's RVQ does.
"""
import math
import typing as tp

import torch
from torch import nn

from audiocraft.quantization.base import BaseQuantizer, QuantizedResult
from audiocraft.quantization.core_vq import VectorQuantization


def dropout_keep_mask(batch_size: int, num_codebooks: int, generator: tp.Optional[torch.Generator] = None,
                      device: tp.Union[torch.device, str] = 'cpu') -> torch.Tensor:
    """Mask [B, K] of hierarchical dropout: item b keeps codebooks ``k < n_b``, ``n_b`` uniform in 1..K.

    Drawn on the generator's device (the CPU without a generator), returned on ``device``.
    """
    draw_device = generator.device if generator is not None else 'cpu'
    kept = torch.randint(1, num_codebooks + 1, (batch_size, 1), generator=generator, device=draw_device)
    return (torch.arange(num_codebooks, device=draw_device)[None, :] < kept).to(device)


class ProductVectorQuantizer(BaseQuantizer):
    """Product vector quantizer: K codebooks, each over its own D/K contiguous dimensions of the latent.

    Args:
        dimension: D, the latent's dimension (the encoder's output channels); a multiple of ``n_q``.
        n_q: K, the number of codebooks (groups).
        q_dropout: hierarchical dropout in training (see the module docstring).
        bins: codebook size.
        decay, kmeans_init, kmeans_iters, threshold_ema_dead_code: as AudioCraft's RVQ, for each codebook.
        orthogonal_reg_weight, orthogonal_reg_active_codes_only, orthogonal_reg_max_codes: as AudioCraft's
            RVQ (orthogonal regularisation of each codebook, added to the penalty).
    """

    def __init__(self, dimension: int = 256, n_q: int = 8, q_dropout: bool = False, bins: int = 1024,
                 decay: float = 0.99, kmeans_init: bool = True, kmeans_iters: int = 10,
                 threshold_ema_dead_code: int = 2, orthogonal_reg_weight: float = 0.0,
                 orthogonal_reg_active_codes_only: bool = False, orthogonal_reg_max_codes: tp.Optional[int] = None):
        super().__init__()
        if n_q < 1 or dimension % n_q:
            raise ValueError(f"The product quantizer splits the latent's {dimension} dimensions into n_q={n_q} "
                             "equal groups: the dimension must be a multiple of n_q.")
        self.max_n_q = n_q
        self.n_q = n_q
        self.q_dropout = q_dropout
        self.dimension = dimension
        self.group_dim = dimension // n_q
        self.bins = bins
        self.dropout_generator: tp.Optional[torch.Generator] = None
        self.layers = nn.ModuleList([
            VectorQuantization(dim=self.group_dim, codebook_size=bins, decay=decay, kmeans_init=kmeans_init,
                               kmeans_iters=kmeans_iters, threshold_ema_dead_code=threshold_ema_dead_code,
                               orthogonal_reg_weight=orthogonal_reg_weight,
                               orthogonal_reg_active_codes_only=orthogonal_reg_active_codes_only,
                               orthogonal_reg_max_codes=orthogonal_reg_max_codes, channels_last=False)
            for _ in range(n_q)])

    def groups(self, x: torch.Tensor) -> tp.List[torch.Tensor]:
        """The K slices [B, D/K, T] of a latent [B, D, T]."""
        if x.dim() != 3 or x.shape[1] != self.dimension:
            raise ValueError(f"Expected a latent [B, {self.dimension}, T], got shape {tuple(x.shape)}.")
        return list(x.split(self.group_dim, dim=1))

    def forward(self, x: torch.Tensor, frame_rate: int) -> QuantizedResult:
        """Quantize a latent [B, D, T]: ``x`` [B, D, T] (straight-through in training), ``codes`` [B, K, T]
        of all ``num_codebooks`` active codebooks (before dropout), ``bandwidth`` [B] of the codes each
        item decodes with, ``penalty`` the mean commitment loss of the codebooks."""
        n_q = self.n_q
        # per codebook [B, D/K, T], [B, T], [1]; in training: EMA update, straight-through
        quantized, codes, losses = zip(*[layer(group) for layer, group in zip(self.layers[:n_q], self.groups(x))])
        keep = torch.ones(x.shape[0], n_q, dtype=torch.bool, device=x.device)
        if self.training and self.q_dropout:
            keep = dropout_keep_mask(x.shape[0], n_q, self.dropout_generator, device=x.device)
        out = torch.stack(quantized, dim=1) * keep[:, :, None, None].to(x.dtype)  # [B, n_q, D/K, T]
        out = self._fill(out.flatten(1, 2))
        bw_per_q = math.log2(self.bins) * frame_rate / 1000
        bandwidth = keep.sum(dim=1).to(x) * bw_per_q
        return QuantizedResult(out, torch.stack(codes, dim=1), bandwidth, penalty=torch.mean(torch.stack(losses)))

    def _fill(self, quantized: torch.Tensor) -> torch.Tensor:
        """Zero-fill the groups past the first ones: [B, k * D/K, T] -> [B, D, T]."""
        missing = self.dimension - quantized.shape[1]
        if missing == 0:
            return quantized
        zeros = quantized.new_zeros(quantized.shape[0], missing, quantized.shape[2])
        return torch.cat([quantized, zeros], dim=1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes [B, K, T] of a latent [B, D, T], K = ``num_codebooks`` (each group's nearest centroid)."""
        return torch.stack([layer.encode(group) for layer, group in zip(self.layers[:self.n_q], self.groups(x))],
                           dim=1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Latent [B, D, T] of codes [B, k, T], k <= K; the groups past the first k are 0."""
        if codes.dim() != 3 or not 1 <= codes.shape[1] <= self.max_n_q:
            raise ValueError(f"Expected codes [B, k, T] with 1 <= k <= {self.max_n_q}, got shape {tuple(codes.shape)}.")
        quantized = [layer.decode(codes[:, k]) for k, layer in enumerate(self.layers[:codes.shape[1]])]
        return self._fill(torch.cat(quantized, dim=1))

    @property
    def total_codebooks(self) -> int:
        return self.max_n_q

    @property
    def num_codebooks(self) -> int:
        return self.n_q

    def set_num_codebooks(self, n: int) -> None:
        """Encode with the first ``n`` codebooks only (the other groups decode to 0)."""
        if not 0 < n <= self.max_n_q:
            raise ValueError(f"num_codebooks must be in 1..{self.max_n_q}, got {n}.")
        self.n_q = n

    @property
    def cardinality(self) -> int:
        """Entries per codebook (``EncodecModel.cardinality`` reads ``bins``)."""
        return self.bins
