"""Early, readable checks of the ``datasource`` a solver will read: its keys, then every listed file."""
import logging
import shutil
from pathlib import Path
import typing as tp

import omegaconf

from .errors import ConfigurationError, MissingDataError, raise_all, run_checks

logger = logging.getLogger(__name__)

SPLITS = ('train', 'valid', 'evaluate', 'generate')
REQUIRED_SPLITS = ('train', 'valid')
SKIP_BAD_FILES = 'skip_bad_files'  # datasource.skip_bad_files: train without the files that fail the check
CHECKED_MANIFESTS = 'checked_manifests'  # XP sub-folder of the manifests without the skipped files
MAKE_MANIFEST = "`audiocraft-mmd manifest AUDIO_DIR OUT_DIR` writes one"


def used_splits(cfg: omegaconf.DictConfig) -> tp.List[str]:
    """The splits of ``cfg.datasource`` this run reads: set (not null, not an ``//`` mapping), and the one
    of ``execute_only`` when it is set."""
    source = cfg.datasource
    return [split for split in SPLITS
            if split in source and not omegaconf.OmegaConf.is_missing(source, split)
            and isinstance(source[split], str) and not source[split].startswith('//')
            and cfg.get('execute_only') in (None, split)]


def manifest_path(path: str) -> tp.Optional[Path]:
    """The manifest file of a split (``path`` is a folder with data.jsonl[.gz] or the file), None if absent."""
    folder = Path(path)
    candidates = [folder / 'data.jsonl', folder / 'data.jsonl.gz'] if folder.is_dir() else [folder]
    return next((m for m in candidates if m.is_file()), None)


def check_datasource(cfg: omegaconf.DictConfig) -> None:
    """Fail before training when a split's manifest is missing, naming the key and what would work.

    A split is a folder with ``data.jsonl`` or ``data.jsonl.gz`` (``audiocraft-mmd manifest AUDIO_DIR
    OUT_DIR`` writes one). ``train`` and ``valid`` are required for training; a ``null`` evaluate or
    generate split skips that stage. Every problem is reported at once (`ConfigurationErrors`).
    """
    if 'datasource' not in cfg:
        return
    run_checks([lambda split=split: _check_split(cfg, split) for split in SPLITS] + [
        lambda: _check_generate(cfg), lambda: _check_source_keys(cfg)])


def _check_split(cfg: omegaconf.DictConfig, split: str) -> None:
    source = cfg.datasource
    if split not in source:
        return
    if omegaconf.OmegaConf.is_missing(source, split):
        raise ConfigurationError(
            f"No dataset for datasource.{split}: pass dset=audio/<name> (a config under config/dset/audio) or "
            f"datasource.{split}=/path/to/manifest_dir (a folder with data.jsonl), or null to skip the split.")
    path = source[split]
    if path is None and split in REQUIRED_SPLITS and cfg.get('execute_only') is None:
        raise ConfigurationError(
            f"No dataset for datasource.{split}: pass dset=audio/<name> (a config under config/dset/audio) or "
            f"datasource.{split}=/path/to/manifest_dir (a folder with data.jsonl; {MAKE_MANIFEST}).")
    if split in used_splits(cfg) and manifest_path(path) is None:
        raise MissingDataError(f"datasource.{split}={path}: no manifest found (expected a folder with data.jsonl "
                               f"or data.jsonl.gz; {MAKE_MANIFEST}).")


def _check_generate(cfg: omegaconf.DictConfig) -> None:
    generate = cfg.datasource.get('generate')
    if isinstance(generate, str) and cfg.get('execute_only') in (None, 'generate') and shutil.which('ffmpeg') is None:
        raise ConfigurationError(f"datasource.generate={generate} is set, but the generate stage writes audio with "
                                 "ffmpeg, which is not on the PATH: install ffmpeg or pass datasource.generate=null.")


def _check_source_keys(cfg: omegaconf.DictConfig) -> None:
    source = cfg.datasource
    missing = [key for key in ('max_sample_rate', 'max_channels')
               if key in source and omegaconf.OmegaConf.is_missing(source, key)]
    if missing:
        raise ConfigurationError(f"{' and '.join('datasource.' + k for k in missing)} not set: give "
                                 f"{'it' if len(missing) == 1 else 'them'} with your dset config or "
                                 f"{' '.join('datasource.' + k + '=...' for k in missing)}.")
    skip = source.get(SKIP_BAD_FILES, False)
    if not isinstance(skip, bool):
        raise ConfigurationError(f"datasource.{SKIP_BAD_FILES} must be true or false, got {skip!r}.")


def check_datasource_files(cfg: omegaconf.DictConfig, xp_folder: tp.Optional[Path]) -> None:
    """Check every file of every manifest this run reads (`audiocraft_mmd.data.audio_check`), before training.

    Bad files (missing, empty, not decoding, silent) stop the run with their manifest lines, unless
    ``datasource.skip_bad_files=true``: the split then points to a copy of its manifest without them,
    written under ``xp_folder/checked_manifests/<split>/`` (logged with their count). AudioCraft would
    otherwise replace each unreadable file by another file of the manifest, silently changing the data.
    """
    from .data.audio_check import check_manifest, write_good_entries
    if 'datasource' not in cfg:
        return
    skip = bool(cfg.datasource.get(SKIP_BAD_FILES, False))
    checks, by_manifest = {}, {}
    for split in used_splits(cfg):
        manifest = manifest_path(cfg.datasource[split])
        assert manifest is not None, "check_datasource runs first"
        if manifest not in by_manifest:  # splits may share a manifest: read its files once
            try:
                by_manifest[manifest] = check_manifest(manifest)
            except ValueError as exc:
                raise MissingDataError(f"datasource.{split}: {str(exc).rstrip('.')}; {MAKE_MANIFEST}.") from None
        checks[split] = by_manifest[manifest]
    errors: tp.List[ConfigurationError] = []
    for split, check in checks.items():
        if not check.bad:
            continue
        summary = f"datasource.{split}: {len(check.bad)} of the {check.total} files listed in {check.path}"
        if not skip or len(check.bad) == check.total:
            if len(check.bad) == check.total:
                head, way_out = f"datasource.{split}: none of the {check.total} files listed in {check.path} can", "."
            else:
                head, way_out = f"{summary} cannot", (f", or pass datasource.{SKIP_BAD_FILES}=true to train without "
                                                     "them.")
            errors.append(MissingDataError(
                f"{head} be trained on (AudioCraft would silently train on other files instead):\n"
                f"{check.describe()}\nFix or remove them and rewrite the manifest "
                f"(`audiocraft-mmd manifest AUDIO_DIR OUT_DIR`){way_out}"))
            continue
        if xp_folder is None:
            raise ConfigurationError(f"datasource.{SKIP_BAD_FILES}=true needs an XP folder to write the checked "
                                     "manifests to: run through Dora (dora -P audiocraft_mmd run ...).")
        folder = Path(xp_folder) / CHECKED_MANIFESTS / split
        write_good_entries(check, folder)
        logger.warning("%s are skipped (datasource.%s=true); the split reads the %d others from %s:\n%s",
                       summary, SKIP_BAD_FILES, check.total - len(check.bad), folder, check.describe())
        cfg.datasource[split] = str(folder)
    raise_all(errors)

