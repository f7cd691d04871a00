"""Loading AudioCraft models from every form a user may name them by."""
from .compression import load_compression_model

__all__ = ['load_compression_model']
