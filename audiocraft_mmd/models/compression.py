"""Load a compression model named the ways AudioCraft names them."""
import typing as tp
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from audiocraft.models import CompressionModel

from ..environment import setup_audiocraft_environment
from ..errors import ConfigurationError, MissingDataError
from .checkpoint_files import read_checkpoint

_FORMS = ("//sig/SIG (a Dora XP), //pretrained/NAME, a checkpoint.th of a compression XP, "
          "a file exported with audiocraft.utils.export.export_encodec, or a MusicGen export folder")
EXPORTED_COMPRESSION_FILE = 'compression_state_dict.bin'  # the name MusicGen.get_pretrained(dir) reads


class CompressionSource(tp.NamedTuple):
    """Where a compression model lives. ``kind``: 'pretrained' (``name`` is a release name for
    ``CompressionModel.get_pretrained``), 'checkpoint' (a compression XP's training checkpoint at ``path``)
    or 'exported' (``audiocraft.utils.export`` output at ``path``). ``state``: the file's contents,
    memory-mapped when it was located, so that loading the model does not read the file again."""
    kind: str
    name: str
    path: tp.Optional[Path] = None
    state: tp.Optional[dict] = None


class Codec(tp.NamedTuple):
    """A loaded compression model (eval mode) and the config of the XP that trained it (None for a
    release loaded by name)."""
    model: CompressionModel
    cfg: tp.Optional[DictConfig]


def locate_compression_model(name: tp.Union[str, Path]) -> CompressionSource:
    """Resolve ``//sig/SIG``, ``//pretrained/NAME``, a checkpoint, an exported file or an export folder.

    Only the checkpoint's metadata is read (memory-mapped).

    Raises:
        MissingDataError: the file or XP does not exist.
        ConfigurationError: the file is not a readable AudioCraft compression checkpoint.
    """
    setup_audiocraft_environment()
    from audiocraft.utils import checkpoint

    name = str(name)
    if name.startswith('//pretrained/'):
        release = name.split('/', 3)[-1]
        if not Path(release).is_file():  # a release name
            return CompressionSource('pretrained', release)
        name = release  # an exported file: read here (one read, with the errors of `read_checkpoint`)
    if Path(name).is_dir() and (Path(name) / EXPORTED_COMPRESSION_FILE).is_file():
        name = str(Path(name) / EXPORTED_COMPRESSION_FILE)
    path = checkpoint.resolve_checkpoint_path(name, use_fsdp=False)
    if path is None or not Path(path).is_file():
        where = f" (looked for {path})" if path is not None else ""
        raise MissingDataError(f"No compression model at {name}{where}; expected {_FORMS}.")
    path = Path(path).resolve()
    state = read_checkpoint(path, _FORMS)
    if isinstance(state, dict) and state.get('exported') and 'pretrained' in state:  # a reference to a release
        return CompressionSource('pretrained', str(state['pretrained']).removeprefix('//pretrained/'), path)
    if not isinstance(state, dict) or 'xp.cfg' not in state or 'best_state' not in state:
        raise ConfigurationError(f"{path} holds no compression model (no 'xp.cfg' and 'best_state'); expected {_FORMS}.")
    solver = OmegaConf.create(state['xp.cfg']).get('solver')  # exported: the config as YAML
    exported = bool(state.get('exported'))
    if solver not in ('compression', 'compression_mmd') or not (exported or 'model' in state['best_state']):
        raise ConfigurationError(f"{path} is the checkpoint of a '{solver}' XP, not of a compression model; "
                                 f"expected {_FORMS}.")
    return CompressionSource('exported' if exported else 'checkpoint', name, path, state)


def load_codec(name: tp.Union[str, Path, CompressionSource], device: tp.Union[str, torch.device] = 'cpu') -> Codec:
    """Compression model and its XP config from ``//sig/SIG``, ``//pretrained/NAME``, a training checkpoint,
    an exported file, an export folder (errors: see :func:`locate_compression_model`) or a located source.

    A file is read once: the model is built from the state read when it was located, by audiocraft's
    builder as ``CompressionSolver.model_from_checkpoint`` and ``audiocraft.models.loaders`` build it (the
    plugin's quantizers are known to it: `audiocraft_mmd.models.builders`).
    """
    from audiocraft.models import builders
    source = name if isinstance(name, CompressionSource) else locate_compression_model(name)
    if source.kind == 'pretrained':
        return Codec(CompressionModel.get_pretrained(source.name, device=device), None)
    # a source made by hand has no contents: read them
    state = source.state if source.state is not None else read_checkpoint(source.path, _FORMS)
    cfg = OmegaConf.create(state['xp.cfg'])  # exported files hold it as YAML, checkpoints as a config
    cfg.device = str(device)
    weights = state['best_state'] if source.kind == 'exported' else state['best_state']['model']
    model = builders.get_compression_model(cfg).to(device)
    model.load_state_dict(weights)
    return Codec(model.eval(), cfg)


def load_compression_model(name: tp.Union[str, Path, CompressionSource],
                           device: tp.Union[str, torch.device] = 'cpu') -> CompressionModel:
    """Compression model in eval mode (see :func:`load_codec`)."""
    return load_codec(name, device).model
