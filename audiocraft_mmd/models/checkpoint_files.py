"""Reading AudioCraft checkpoint files safely, with an error naming the file when it is not one."""
import pickle
import re
import typing as tp
import zipfile
from pathlib import Path

import torch

from ..compat import allow_audiocraft_checkpoints, safe_loader_takes_allowlist
from ..errors import ConfigurationError


# The first bytes of files people pass for a checkpoint by mistake, and what they are.
_SIGNATURES = ((b'RIFF', 'a WAV audio file'), (b'fLaC', 'a FLAC audio file'), (b'OggS', 'an Ogg audio file'),
               (b'ID3', 'an MP3 audio file'), (b'\x1f\x8b', 'gzip-compressed data'),
               (b'\x80', 'a pickle, or a torch file in the legacy format (torch.save before torch 1.6)'))
_UNSUPPORTED_GLOBAL = re.compile(r'Unsupported global: GLOBAL (\S+)')


def read_checkpoint(path: tp.Union[str, Path], expected: str) -> tp.Any:
    """``torch.load`` of ``path`` with the safe loader, memory-mapped (tensors are read only when used); on a
    torch before 2.4, whose safe loader refuses audiocraft's config types, with torch's full loader, as
    AudioCraft loads it there.

    Raises:
        ConfigurationError: ``path`` is not a readable torch checkpoint; the message says what it is instead
            (`describe_non_checkpoint`) and ``expected``.
    """
    allow_audiocraft_checkpoints()  # training checkpoints hold the XP's OmegaConf config
    try:
        return torch.load(str(path), map_location='cpu', weights_only=safe_loader_takes_allowlist(), mmap=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        raise ConfigurationError(f"{path} is not a readable AudioCraft checkpoint: {describe_non_checkpoint(path, exc)}"
                                 f"; expected {expected}.") from exc


def describe_non_checkpoint(path: tp.Union[str, Path], exc: BaseException) -> str:
    """What the file ``path``, which ``torch.load`` refused with ``exc``, is (in the user's words, not torch's)."""
    path = Path(path)
    if path.is_dir():
        return "it is a folder"
    try:
        with open(path, 'rb') as file:
            head = file.read(512)
    except OSError as error:
        return f"it cannot be read ({error.strerror or type(error).__name__})"
    if not head:
        return "it is empty (0 bytes)"
    if head.startswith(b'PK\x03\x04') or zipfile.is_zipfile(path):  # torch.save's format is a zip archive
        problem = zip_problem(path)
        if problem is not None:
            return f"it is a truncated or corrupt torch file ({problem})"
        with zipfile.ZipFile(path) as archive:
            if not any(name.endswith('/data.pkl') for name in archive.namelist()):
                return "it is a zip archive, not a torch file (no data.pkl inside)"
        refused = _UNSUPPORTED_GLOBAL.search(str(exc))
        if refused:
            return f"it is a torch file holding a {refused.group(1).rstrip('.')} object, which the safe loader refuses"
        return f"it is a torch file that does not load ({type(exc).__name__})"
    kind = next((what for magic, what in _SIGNATURES if head.startswith(magic)), None)
    if kind is not None:
        return f"it is {kind}"
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError as error:  # the 512 bytes may end inside a character
        text = head[:error.start].decode('utf-8') if error.start >= len(head) - 3 else '\0'
    if not all(char.isprintable() or char in '\t\r\n' for char in text):
        return f"it is binary data of another kind (first bytes {head[:8].hex(' ')})"
    lines = text.strip().splitlines()
    return f"it is a text file (first line {lines[0][:60]!r})" if lines else "it is a text file of blank lines"


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
    if not last.exists() or (problem := zip_problem(last)) is None:
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
