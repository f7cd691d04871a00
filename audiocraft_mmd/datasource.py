"""Early, readable checks of the ``datasource`` a solver will read."""
import shutil
from pathlib import Path

import omegaconf

from .errors import ConfigurationError, MissingDataError

SPLITS = ('train', 'valid', 'evaluate', 'generate')
REQUIRED_SPLITS = ('train', 'valid')


def check_datasource(cfg: omegaconf.DictConfig) -> None:
    """Fail before training when a split's manifest is missing, naming the key and what would work.

    A split is a folder with ``data.jsonl`` or ``data.jsonl.gz`` (``python -m audiocraft.data.audio_dataset
    AUDIO_DIR OUT_DIR/data.jsonl`` writes one). ``train`` and ``valid`` are required for training;
    a ``null`` evaluate or generate split skips that stage.
    """
    if 'datasource' not in cfg:
        return
    source = cfg.datasource
    for split in SPLITS:
        if split not in source:
            continue
        if omegaconf.OmegaConf.is_missing(source, split):
            raise ConfigurationError(
                f"No dataset for datasource.{split}: pass dset=audio/<name> (a config under config/dset/audio) or "
                f"datasource.{split}=/path/to/manifest_dir (a folder with data.jsonl), or null to skip the split.")
        path = source[split]
        if path is None and split in REQUIRED_SPLITS and cfg.get('execute_only') is None:
            raise ConfigurationError(
                f"No dataset for datasource.{split}: pass dset=audio/<name> (a config under config/dset/audio) or "
                f"datasource.{split}=/path/to/manifest_dir (a folder with data.jsonl).")
        if path is None or not isinstance(path, str) or path.startswith('//'):
            continue  # disabled, or an audiocraft path mapping (//reference/...) resolved later
        if cfg.get('execute_only') not in (None, split):
            continue
        folder = Path(path)
        manifests = [folder / 'data.jsonl', folder / 'data.jsonl.gz'] if folder.is_dir() else [folder]
        if not any(m.is_file() for m in manifests):
            raise MissingDataError(
                f"datasource.{split}={path}: no manifest found (expected a folder with data.jsonl or "
                "data.jsonl.gz; `python -m audiocraft.data.audio_dataset AUDIO_DIR OUT_DIR/data.jsonl` makes one).")
    generate = source.get('generate') if 'generate' in source else None
    if isinstance(generate, str) and cfg.get('execute_only') in (None, 'generate') and shutil.which('ffmpeg') is None:
        raise ConfigurationError(f"datasource.generate={generate} is set, but the generate stage writes audio with "
                                 "ffmpeg, which is not on the PATH: install ffmpeg or pass datasource.generate=null.")
    for key in ('max_sample_rate', 'max_channels'):
        if key in source and omegaconf.OmegaConf.is_missing(source, key):
            raise ConfigurationError(f"datasource.{key} is not set: give it with your dset config or datasource.{key}=...")
