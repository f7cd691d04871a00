"""Access to the per-codebook vectors of AudioCraft's multi-stage quantizers, and the plugin's product quantizer."""
from .codebook_vectors import STREAMS, SUPPORTED, codebook_vectors, codebooks_initialised, dropout_gradient_mask, \
    encode_latent, latent_rms, mask_gradient, mmd_vectors, quantizer_layers
from .pvq import ProductVectorQuantizer, dropout_keep_mask

__all__ = ['STREAMS', 'SUPPORTED', 'ProductVectorQuantizer', 'codebook_vectors', 'codebooks_initialised',
           'dropout_gradient_mask', 'dropout_keep_mask', 'encode_latent', 'latent_rms', 'mask_gradient', 'mmd_vectors',
           'quantizer_layers']
