"""Per-codebook vectors of an RVQ, computed without touching any codebook state.

AudioCraft's ``ResidualVectorQuantizer.forward`` in training mode updates each codebook (k-means
init, EMA of the centroids, dead-code expiry). The MMD pass must not do that a second time, so this
module re-implements only the pure part of the forward: nearest-centroid search and lookup with the
codebooks as they are, with the same straight-through gradient as training.
"""
import typing as tp

import torch
from audiocraft.quantization.vq import ResidualVectorQuantizer

STREAMS = ('quantized', 'residual')


def _check_quantizer(quantizer: torch.nn.Module) -> ResidualVectorQuantizer:
    if not isinstance(quantizer, ResidualVectorQuantizer):
        raise TypeError(
            f"The MMD loss needs a residual vector quantizer (audiocraft's `rvq`), got {type(quantizer).__name__}; "
            "set `encodec.quantizer: rvq` in the model config.")
    for layer in quantizer.vq.layers:
        if not layer._codebook.inited:
            raise RuntimeError("The RVQ codebooks are not initialised yet (k-means init happens on the first "
                               "training forward): run a training step before computing the MMD.")
    return quantizer


def codebook_vectors(quantizer: ResidualVectorQuantizer, emb: torch.Tensor,
                     stream: str = 'quantized') -> torch.Tensor:
    """Per-codebook vectors of all the quantizer's codebooks (pre-dropout), in the encoder's space.

    Args:
        quantizer: audiocraft RVQ, in train or eval mode; its buffers are left untouched.
        emb: encoder output [B, D, T].
        stream: ``'quantized'`` (paper): the quantized vector q_k of stage k, straight-through so the
            gradient reaches ``emb`` unchanged (as in RVQ training); ``'residual'`` (the official
            code): the residual left after stage k, ``emb - sum_{j<=k} q_j``.
    Returns:
        Tensor [B, K, D, T] with K = ``quantizer.total_codebooks``.
    """
    if stream not in STREAMS:
        raise ValueError(f"mmd.stream must be one of {STREAMS}, got {stream!r}")
    quantizer = _check_quantizer(quantizer)
    if emb.dim() != 3:
        raise ValueError(f"Expected encoder output [B, D, T], got shape {tuple(emb.shape)}")
    layers = quantizer.vq.layers[:quantizer.total_codebooks]
    residual = emb
    vectors: tp.List[torch.Tensor] = []
    for layer in layers:
        x = layer.project_in(layer._preprocess(residual))  # [B, T, d]
        with torch.no_grad():
            flat = x.detach().reshape(-1, x.shape[-1])
            indices = layer._codebook.quantize(flat)
            centroid = layer._codebook.dequantize(indices).view_as(x)
        quantized = x + (centroid - x).detach()  # straight-through, as VectorQuantization in training
        quantized = layer._postprocess(layer.project_out(quantized))  # [B, D, T]
        residual = residual - quantized.detach()
        vectors.append(quantized if stream == 'quantized' else residual)
    return torch.stack(vectors, dim=1)


def dropout_gradient_mask(batch_size: int, num_codebooks: int, generator: torch.Generator,
                          device: tp.Union[torch.device, str] = 'cpu') -> torch.Tensor:
    """Mask [B, K] of the codebooks kept by quantizer dropout, one draw per item.

    Item b keeps codebooks ``k < n_b`` with ``n_b`` uniform in ``1..K`` (audiocraft's ``q_dropout``).
    The MMD uses every codebook's value but only kept ones carry gradient, so the loss never pushes
    codes towards what dropout removed.
    """
    kept = torch.randint(1, num_codebooks + 1, (batch_size, 1), generator=generator, device=generator.device)
    return (torch.arange(num_codebooks, device=kept.device)[None, :] < kept).to(device)


def mask_gradient(vectors: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Same values as ``vectors`` [B, K, D, T]; gradient only where ``keep`` [B, K] is True."""
    return torch.where(keep[:, :, None, None].to(vectors.device), vectors, vectors.detach())
