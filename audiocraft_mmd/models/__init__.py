"""Loading AudioCraft models from every form a user may name them by."""
from .compression import load_compression_model
from .musicgen import MusicGenMMD, check_lm_matches_codec, lm_from_package, read_lm_package

__all__ = ['MusicGenMMD', 'check_lm_matches_codec', 'lm_from_package', 'load_compression_model', 'read_lm_package']
