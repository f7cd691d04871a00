"""Reading AudioCraft checkpoint files safely, with an error naming the file when it is not one."""
import pickle
import typing as tp
import zipfile
from pathlib import Path

import torch

from ..compat import allow_audiocraft_checkpoints
from ..errors import ConfigurationError


def read_checkpoint(path: tp.Union[str, Path], expected: str) -> tp.Any:
    """``torch.load`` of ``path`` with the safe loader, memory-mapped (tensors are read only when used).

    Raises:
        ConfigurationError: ``path`` is not a readable torch checkpoint; the message says ``expected``.
    """
    allow_audiocraft_checkpoints()  # training checkpoints hold the XP's OmegaConf config
    try:
        return torch.load(path, map_location='cpu', weights_only=True, mmap=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else ''
        raise ConfigurationError(f"{path} is not a readable AudioCraft checkpoint ({type(exc).__name__}: "
                                 f"{first_line}); expected {expected}.") from exc
