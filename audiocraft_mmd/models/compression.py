"""Load a compression model named the ways AudioCraft names them."""
import pickle
import typing as tp
import zipfile
from pathlib import Path

import torch
from audiocraft.models import CompressionModel

from ..environment import setup_audiocraft_environment
from ..errors import ConfigurationError, MissingDataError

_FORMS = ("//sig/SIG (a Dora XP), //pretrained/NAME, a checkpoint.th of a compression XP, "
          "or a file exported with audiocraft.utils.export.export_encodec")


def load_compression_model(name: tp.Union[str, Path], device: tp.Union[str, torch.device] = 'cpu'
                           ) -> CompressionModel:
    """Compression model in eval mode from ``//sig/SIG``, ``//pretrained/NAME``, a training checkpoint
    or an exported file.

    Raises:
        MissingDataError: the file or XP does not exist.
        ConfigurationError: the file is not a readable AudioCraft compression checkpoint.
    """
    setup_audiocraft_environment()
    from audiocraft.solvers.compression import CompressionSolver
    from audiocraft.utils import checkpoint

    name = str(name)
    if name.startswith('//pretrained/'):
        return CompressionSolver.model_from_checkpoint(name, device=device)
    path = checkpoint.resolve_checkpoint_path(name, use_fsdp=False)
    if path is None or not Path(path).is_file():
        where = f" (looked for {path})" if path is not None else ""
        raise MissingDataError(f"No compression model at {name}{where}; expected {_FORMS}.")
    try:  # memory-mapped: only the metadata is read here
        state = torch.load(path, map_location='cpu', weights_only=True, mmap=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        raise ConfigurationError(f"{path} is not a readable AudioCraft checkpoint ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else ''}); expected {_FORMS}.") from exc
    if not isinstance(state, dict) or 'xp.cfg' not in state or 'best_state' not in state:
        raise ConfigurationError(f"{path} holds no compression model (no 'xp.cfg' and 'best_state'); expected {_FORMS}.")
    if state.get('exported'):
        return CompressionModel.get_pretrained(str(path), device=device)
    solver = state['xp.cfg'].get('solver')
    if solver not in ('compression', 'compression_mmd') or 'model' not in state['best_state']:
        raise ConfigurationError(f"{path} is the checkpoint of a '{solver}' XP, not of a compression model; "
                                 f"expected {_FORMS}.")
    return CompressionSolver.model_from_checkpoint(str(path), device=device)
