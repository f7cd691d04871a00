"""Per-codebook vectors of an RVQ or a PVQ, computed without touching any codebook state.

AudioCraft's ``ResidualVectorQuantizer.forward`` in training mode updates each codebook (k-means
init, EMA of the centroids, dead-code expiry), and so does `ProductVectorQuantizer.forward`. The MMD
pass must not do that a second time, so this module re-implements only the pure part of the forward:
nearest-centroid search and lookup with the codebooks as they are, with the same straight-through
gradient as training. It reads the private ``_preprocess``, ``_postprocess`` and ``_codebook`` of
audiocraft's ``VectorQuantization`` (tests/test_codebook_vectors.py and tests/test_pvq.py check them).
"""
import typing as tp

import torch
from audiocraft.quantization.core_vq import VectorQuantization
from audiocraft.quantization.vq import ResidualVectorQuantizer

from ..errors import choice_problem
from .pvq import ProductVectorQuantizer, dropout_keep_mask

STREAMS = ('quantized', 'residual')
SUPPORTED = (ResidualVectorQuantizer, ProductVectorQuantizer)


def quantizer_layers(quantizer: torch.nn.Module) -> tp.Sequence[VectorQuantization]:
    """The K codebook layers of an RVQ (``vq.layers``) or a PVQ (``layers``).

    Raises:
        TypeError: another quantizer.
        RuntimeError: the codebooks are not initialised yet.
    """
    if not codebooks_initialised(quantizer):
        raise RuntimeError("The codebooks are not initialised yet (k-means init happens on the first "
                           "training forward): run a training step before computing the MMD.")
    return _layers(quantizer)


def codebooks_initialised(quantizer: torch.nn.Module) -> bool:
    """Whether every codebook of an RVQ or a PVQ is initialised (k-means init happens on the quantizer's first
    training forward). Reads audiocraft's private ``_codebook.inited`` buffer; `TypeError` for another quantizer."""
    return all(bool(layer._codebook.inited) for layer in _layers(quantizer))


def _layers(quantizer: torch.nn.Module) -> tp.Sequence[VectorQuantization]:
    if isinstance(quantizer, ResidualVectorQuantizer):
        return quantizer.vq.layers[:quantizer.total_codebooks]
    if isinstance(quantizer, ProductVectorQuantizer):
        return quantizer.layers[:quantizer.total_codebooks]
    raise TypeError(
        f"The MMD loss needs a multi-codebook quantizer (audiocraft's `rvq` or the plugin's `pvq`), got "
        f"{type(quantizer).__name__}; set `encodec.quantizer: rvq` or `pvq` in the model config.")


def _nearest(layer: VectorQuantization, x: torch.Tensor) -> torch.Tensor:
    """Straight-through quantized vector [B, D', T] of ``x`` [B, D', T] by one codebook layer, no state change."""
    h = layer.project_in(layer._preprocess(x))  # [B, T, d]
    with torch.no_grad():
        flat = h.detach().reshape(-1, h.shape[-1])
        indices = layer._codebook.quantize(flat)
        centroid = layer._codebook.dequantize(indices).view_as(h)
    quantized = h + (centroid - h).detach()  # straight-through, as VectorQuantization in training
    return layer._postprocess(layer.project_out(quantized))


def codebook_vectors(quantizer: tp.Union[ResidualVectorQuantizer, ProductVectorQuantizer], emb: torch.Tensor,
                     stream: str = 'quantized') -> torch.Tensor:
    """Per-codebook vectors of all the quantizer's codebooks (pre-dropout), in the encoder's space.

    Args:
        quantizer: audiocraft RVQ or the plugin's PVQ, in train or eval mode; its buffers are left untouched.
        emb: encoder output [B, D, T].
        stream: ``'quantized'`` (paper): the quantized vector q_k of codebook k, straight-through so the
            gradient reaches ``emb`` unchanged (as in training); ``'residual'`` (the official code, RVQ
            only): the residual left after stage k, ``emb - sum_{j<=k} q_j``.
    Returns:
        RVQ: tensor [B, K, D, T]; PVQ: tensor [B, K, D/K, T] (codebook k's vector is the quantized slice k);
        K = ``quantizer.total_codebooks``.
    """
    if stream not in STREAMS:
        raise ValueError(choice_problem('mmd.stream', stream, STREAMS))
    layers = quantizer_layers(quantizer)
    if emb.dim() != 3:
        raise ValueError(f"Expected encoder output [B, D, T], got shape {tuple(emb.shape)}")
    if isinstance(quantizer, ProductVectorQuantizer):
        if stream != 'quantized':
            raise ValueError("mmd.stream=residual is the residual of RVQ stages; a product quantizer has none: "
                             "use mmd.stream=quantized.")
        return torch.stack([_nearest(layer, group) for layer, group in zip(layers, quantizer.groups(emb))], dim=1)
    residual = emb
    vectors: tp.List[torch.Tensor] = []
    for layer in layers:
        quantized = _nearest(layer, residual)  # [B, D, T]
        residual = residual - quantized.detach()
        vectors.append(quantized if stream == 'quantized' else residual)
    return torch.stack(vectors, dim=1)


def dropout_gradient_mask(batch_size: int, num_codebooks: int, generator: torch.Generator,
                          device: tp.Union[torch.device, str] = 'cpu') -> torch.Tensor:
    """Mask [B, K] of the codebooks kept by quantizer dropout, one draw per item.

    Item b keeps codebooks ``k < n_b`` with ``n_b`` uniform in ``1..K`` (audiocraft's ``q_dropout``,
    the PVQ's ``pvq.q_dropout``). The MMD uses every codebook's value but only kept ones carry gradient,
    so the loss never pushes codes towards what dropout removed.
    """
    return dropout_keep_mask(batch_size, num_codebooks, generator, device)


def mask_gradient(vectors: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Same values as ``vectors`` [B, K, N, T]; gradient only where ``keep`` [B, K] is True."""
    return torch.where(keep[:, :, None, None].to(vectors.device), vectors, vectors.detach())


def latent_rms(emb: torch.Tensor) -> float:
    """The rms of an encoder output ``emb`` [B, D, T] (the latent scale logged as ``latent_rms`` beside the MMD)."""
    return float(emb.detach().double().pow(2).mean().sqrt())


def encode_latent(model: tp.Any, x: torch.Tensor) -> tp.Tuple[torch.Tensor, tp.Optional[torch.Tensor]]:
    """The encoder output [B, D, T] of an EnCodec ``model`` for audio ``x`` [B, C, L], and the scale its
    ``preprocess`` returns (None unless the model renormalizes): what ``EncodecModel.encode`` computes before
    quantizing, through its public ``preprocess`` and ``encoder``."""
    x, scale = model.preprocess(x)
    return model.encoder(x), scale


def mmd_vectors(quantizer: tp.Union[ResidualVectorQuantizer, ProductVectorQuantizer], emb: torch.Tensor,
                stream: str, generator: tp.Optional[torch.Generator] = None) -> torch.Tensor:
    """The per-codebook vectors the MMD reads, from an encoder output ``emb`` [B, D, T] (`encode_latent`).

    `codebook_vectors` of every codebook (the codes before dropout); with quantizer dropout (the quantizer's
    ``q_dropout``) and gradients on, only the codebooks a dropout draw from ``generator`` keeps for an item
    carry gradient (`dropout_gradient_mask`; ``generator`` is needed only then). The one path from encoder
    output to MMD input, used by the MMD solver, the codec meter and the planted-dependence experiment.

    Returns:
        RVQ: [B, K, D, T]; PVQ: [B, K, D/K, T].
    """
    vectors = codebook_vectors(quantizer, emb, stream=stream)
    if quantizer.q_dropout and torch.is_grad_enabled():
        if generator is None:
            raise ValueError("mmd_vectors with quantizer dropout and gradients on draws which codebooks carry "
                             "gradient: pass a generator.")
        keep = dropout_gradient_mask(vectors.shape[0], vectors.shape[1], generator)
        vectors = mask_gradient(vectors, keep)
    return vectors
