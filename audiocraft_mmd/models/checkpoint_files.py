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


def zip_problem(path: Path) -> tp.Optional[str]:
    """Why the torch checkpoint ``path`` is truncated or corrupt (zip structure, CRC of every entry), or None.

    Reads the whole file but unpickles nothing, so it tells damage from a loader restriction.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'unreadable'}"
    return f"bad CRC in {broken}" if broken is not None else None


def check_resume_checkpoint(xp_folder: Path) -> None:
    """Refuse to resume an XP whose ``checkpoint.th`` is truncated or corrupt (a crash mid-write, a full disk),
    naming its newest intact ``checkpoint_N.th`` and how to resume from it. Nothing is moved or deleted.

    Raises:
        ConfigurationError: the message holds the commands to run.
    """
    last = Path(xp_folder) / 'checkpoint.th'
    if not last.exists():
        return
    problem = zip_problem(last)
    if problem is None:
        return
    epochs = sorted((int(p.stem.split('_')[1]), p) for p in Path(xp_folder).glob('checkpoint_*.th')
                    if p.stem.split('_')[1].isdigit())
    intact = next((p for _, p in reversed(epochs) if zip_problem(p) is None), None)
    head = f"{last} is truncated or corrupt ({problem}); nothing was changed."
    if intact is None:
        raise ConfigurationError(f"{head} No intact checkpoint_N.th is beside it (checkpoint.save_every keeps "
                                 f"them): to train this XP from scratch, move it aside: mv {last} {last}.corrupt")
    raise ConfigurationError(f"{head} The newest intact one is {intact.name}: to resume from it, run "
                             f"`mv {last} {last}.corrupt && cp {intact} {last}` and the same command again.")
