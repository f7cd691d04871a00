"""Small data helpers: synthetic music-like audio and AudioCraft manifests."""
from .manifests import write_manifest
from .synthetic import write_synthetic_dataset

__all__ = ['write_manifest', 'write_synthetic_dataset']
