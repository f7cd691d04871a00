"""Loading AudioCraft models from every form a user may name them by.

Importing this package makes audiocraft's own builder know the plugin's quantizers (`builders.install_quantizers`).
"""
from .builders import install_quantizers

install_quantizers()

from .compression import load_compression_model  # noqa: E402
from .musicgen import MusicGenMMD, check_lm_matches_codec, lm_from_package, read_lm_package  # noqa: E402

__all__ = ['MusicGenMMD', 'check_lm_matches_codec', 'install_quantizers', 'lm_from_package', 'load_compression_model',
           'read_lm_package']
