"""Access to the per-codebook vectors of AudioCraft's multi-stage quantizers."""
from .codebook_vectors import STREAMS, codebook_vectors, dropout_gradient_mask, mask_gradient

__all__ = ['STREAMS', 'codebook_vectors', 'dropout_gradient_mask', 'mask_gradient']
