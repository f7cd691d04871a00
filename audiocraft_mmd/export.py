"""Export a trained LM and its tokenizer to the folder layout ``MusicGen.get_pretrained(dir)`` reads.

``OUT_DIR/state_dict.bin`` is the LM (``audiocraft.utils.export.export_lm``),
``OUT_DIR/compression_state_dict.bin`` the tokenizer (``export_encodec`` for a compression XP, or
``export_pretrained_compression_model`` for a release name or an exported file), and
``OUT_DIR/export.json`` records where both came from. Existing files are never replaced unless asked.
"""
import datetime
import json
import os
import shutil
import typing as tp
from pathlib import Path

import omegaconf
import torch

from .errors import ConfigurationError
from .models.compression import EXPORTED_COMPRESSION_FILE, CompressionSource, load_compression_model, \
    locate_compression_model
from .models.musicgen import EXPORTED_LM_FILE, check_lm_matches_codec, read_lm_package

PROVENANCE_FILE = 'export.json'


class ExportResult(tp.NamedTuple):
    out_dir: Path
    lm_file: Path
    compression_file: Path
    lm_params: int
    tokenizer: str


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[key], sb[key]) for key in sa)


def _check_tokenizer_is_the_lms(lm_cfg: omegaconf.DictConfig, compression: str,
                                codec: torch.nn.Module) -> tp.Optional[str]:
    """Refuse a tokenizer other than the one the LM was trained on; a warning when that one is gone."""
    trained_on = lm_cfg.get('compression_model_checkpoint')
    if not trained_on or str(trained_on) == str(compression):
        return None
    try:
        original = load_compression_model(str(trained_on), device='cpu')
    except ConfigurationError as exc:  # the LM's tokenizer moved or was deleted: the user's is taken as is
        return f"could not check the tokenizer against the LM's own ({trained_on}): {exc}"
    if not _same_weights(original, codec):
        raise ConfigurationError(
            f"--compression {compression} is not the tokenizer the LM was trained on "
            f"(compression_model_checkpoint={trained_on}): its tokens would mean other sounds. "
            "Leave --compression out to export the LM's own tokenizer.")
    return None


def _write_compression(source: CompressionSource, out_file: Path) -> None:
    from audiocraft.utils.export import export_encodec, export_pretrained_compression_model
    if source.kind == 'checkpoint':
        export_encodec(source.path, out_file)
    elif source.kind == 'exported':
        export_pretrained_compression_model(str(source.path), out_file)  # copies the exported package
    elif source.path is not None:  # an exported reference to a release: copy it
        shutil.copyfile(source.path, out_file)
    else:
        export_pretrained_compression_model(source.name, out_file)


def export_musicgen(lm: str, out_dir: tp.Union[str, Path], compression: tp.Optional[str] = None,
                    overwrite: bool = False, log: tp.Callable[[str], None] = print) -> ExportResult:
    """Write ``lm`` (``//sig/``, checkpoint or exported file) and its tokenizer to ``out_dir``.

    ``compression`` defaults to the LM's ``compression_model_checkpoint``; another tokenizer is refused
    unless it has the same weights. Raises :class:`ConfigurationError` when ``out_dir`` already holds
    an export and ``overwrite`` is False.
    """
    from audiocraft import __version__ as audiocraft_version
    from audiocraft.utils.export import export_lm
    out_dir = Path(out_dir)
    lm_path, package = read_lm_package(lm)
    lm_cfg = omegaconf.OmegaConf.create(package['xp.cfg'])
    compression = compression or lm_cfg.get('compression_model_checkpoint')
    if not compression:
        raise ConfigurationError(f"{lm} names no compression_model_checkpoint: pass --compression.")
    source = locate_compression_model(compression)
    codec = load_compression_model(source, device='cpu')
    check_lm_matches_codec(lm_cfg, codec, str(compression))
    if warning := _check_tokenizer_is_the_lms(lm_cfg, compression, codec):
        log(f"warning: {warning}")

    targets = {name: out_dir / name for name in (EXPORTED_LM_FILE, EXPORTED_COMPRESSION_FILE, PROVENANCE_FILE)}
    existing = [str(path) for path in targets.values() if path.exists()]
    if existing and not overwrite:
        raise ConfigurationError(f"{out_dir} already holds an export ({', '.join(existing)}); nothing was written. "
                                 "Choose another folder, or pass --force to replace it.")
    out_dir.mkdir(parents=True, exist_ok=True)
    staged = {name: out_dir / f'.{name}.partial' for name in targets}
    try:
        if package.get('exported'):
            shutil.copyfile(lm_path, staged[EXPORTED_LM_FILE])
        else:
            export_lm(lm_path, staged[EXPORTED_LM_FILE])
        _write_compression(source, staged[EXPORTED_COMPRESSION_FILE])
        provenance = {
            'lm': str(lm), 'lm_file': str(lm_path), 'compression': str(compression), 'compression_kind': source.kind,
            'compression_file': str(source.path) if source.path else None, 'audiocraft': audiocraft_version,
            'exported_at': datetime.datetime.now().isoformat(timespec='seconds'),
        }
        staged[PROVENANCE_FILE].write_text(json.dumps(provenance, indent=2))
        for name, target in targets.items():  # all files are written before any is replaced
            os.replace(staged[name], target)
    finally:
        for path in staged.values():
            path.unlink(missing_ok=True)
    lm_params = sum(t.numel() for t in package['best_state'].values())
    return ExportResult(out_dir, targets[EXPORTED_LM_FILE], targets[EXPORTED_COMPRESSION_FILE], lm_params,
                        str(compression))
