"""AudioCraft manifests (``data.jsonl``) for folders of audio files."""
from pathlib import Path

from audiocraft.data.audio_dataset import find_audio_files, save_audio_meta

from ..errors import MissingDataError


def write_manifest(audio_dir: Path, manifest_dir: Path) -> Path:
    """Scan ``audio_dir`` and write ``manifest_dir/data.jsonl`` as audiocraft's ``audio_dataset`` tool does."""
    audio_dir, manifest_dir = Path(audio_dir), Path(manifest_dir)
    if not audio_dir.is_dir():
        raise MissingDataError(f"Audio folder {audio_dir} does not exist.")
    meta = find_audio_files(audio_dir, progress=False, resolve=True)
    if not meta:
        raise MissingDataError(f"No audio file (wav, mp3, flac, ogg, m4a) found under {audio_dir}.")
    manifest_dir.mkdir(parents=True, exist_ok=True)
    path = manifest_dir / 'data.jsonl'
    save_audio_meta(path, meta)
    return path
