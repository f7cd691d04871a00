"""The music the commands train and measure on: the demo's Debian songs or the user's tracks, fetched once, mixed,
split by track, resampled, with AudioCraft manifests."""
import hashlib
import json
import shutil
import subprocess
import tempfile
import typing as tp
from pathlib import Path

import numpy as np
import soundfile
import torch
from audiocraft.data.audio import audio_info, audio_read
from audiocraft.data.audio_utils import convert_audio

from ..data.manifests import write_manifest
from ..errors import ConfigurationError, MissingDataError
from .recipes import CODEC_SOLVER, solver_config

DEBIAN_PACKAGE = 'fretsonfire-songs-sectoid'  # MIT licence: 4 rock songs, 13.5 min, Ogg stems
SONGS_SUBDIR = 'usr/share/games/fretsonfire/data/songs/sectoid'
SPLITS = ('train', 'valid', 'evaluate')
AUDIO_EXTS = ('.wav', '.flac', '.ogg', '.mp3', '.m4a')
COMPLETE = 'complete'  # written last in a prepared folder: without it, the preparation was interrupted


def fetch_debian_songs(cache: Path) -> tp.List[Path]:
    """Download and unpack the Debian package of the songs (no install) and return one folder per song."""
    songs_root = cache / 'package' / SONGS_SUBDIR
    if not songs_root.is_dir():
        for tool in ('apt-get', 'dpkg-deb'):
            if shutil.which(tool) is None:
                raise MissingDataError(
                    f"The demo's music comes from the Debian package {DEBIAN_PACKAGE}, but `{tool}` is not available "
                    "here. Pass your own music with --audio DIR (a folder of audio files, one track per file).")
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(['apt-get', 'download', DEBIAN_PACKAGE], cwd=tmp, capture_output=True, text=True)
            debs = list(Path(tmp).glob('*.deb'))
            if proc.returncode != 0 or not debs:
                raise MissingDataError(
                    f"`apt-get download {DEBIAN_PACKAGE}` failed ({proc.stderr.strip().splitlines()[-1:] or 'no file'}); "
                    "try `apt-get update` first, or pass your own music with --audio DIR.")
            staging = cache / 'package.partial'
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            unpack = subprocess.run(['dpkg-deb', '-x', str(debs[0]), str(staging)], capture_output=True, text=True)
            if unpack.returncode != 0:
                raise MissingDataError(f"`dpkg-deb -x` could not unpack {debs[0].name}: {unpack.stderr.strip()}")
            shutil.rmtree(cache / 'package', ignore_errors=True)
            staging.rename(cache / 'package')
    songs = sorted(p for p in songs_root.iterdir() if (p / 'song.ogg').is_file())
    if not songs:
        raise MissingDataError(f"No song.ogg found under {songs_root}: delete {cache} and retry.")
    return songs


def mix_song(folder: Path, sample_rate: int) -> torch.Tensor:
    """Mono mix [1, L] of a song's backing track (song.ogg) and guitar stem (guitar.ogg), peak 0.9."""
    stems = [folder / 'song.ogg'] + ([folder / 'guitar.ogg'] if (folder / 'guitar.ogg').is_file() else [])
    wavs = [convert_audio(*audio_read(stem), sample_rate, 1) for stem in stems]
    length = max(w.shape[-1] for w in wavs)
    mix = sum(torch.nn.functional.pad(w, (0, length - w.shape[-1])) for w in wavs)
    return 0.9 * mix / mix.abs().max().clamp_min(1e-8)


def split_tracks(names: tp.Sequence[str]) -> tp.Dict[str, tp.List[str]]:
    """Assign whole tracks to train / valid / evaluate: one held-out track each, the rest to train."""
    if len(names) < 3:
        raise ConfigurationError(f"The demo needs at least 3 tracks (train, valid, evaluate are split by track), "
                                 f"got {len(names)}.")
    ordered = sorted(names)
    return {'train': ordered[:-2], 'valid': [ordered[-2]], 'evaluate': [ordered[-1]]}


def audio_files(audio_dir: Path) -> tp.List[Path]:
    """The audio files (``AUDIO_EXTS``) anywhere under ``audio_dir``, sorted."""
    return sorted(p for p in Path(audio_dir).rglob('*') if p.suffix.lower() in AUDIO_EXTS and p.is_file())


def user_cache_root(cache: Path, sample_rate: int, audio_dir: Path, files: tp.Sequence[Path]) -> Path:
    """Where the music of ``--audio audio_dir`` is prepared: a new folder whenever the folder or its files change,
    named by 12 hex chars of sha256 over the folder's resolved path and each file's relative path, size and mtime
    (ns)."""
    audio_dir = Path(audio_dir)
    stats = [(p.relative_to(audio_dir).as_posix(), p.stat()) for p in files]
    key = [str(audio_dir.resolve()), [[rel, st.st_size, st.st_mtime_ns] for rel, st in stats]]
    return Path(cache) / f'user-{hashlib.sha256(json.dumps(key).encode()).hexdigest()[:12]}-{sample_rate}hz'


def check_user_audio(audio_dir: Path, files: tp.Sequence[Path], min_held_out: float) -> None:
    """Refuse, before anything is written, files that cannot be used (`check_audio_file`) and a held-out
    track shorter than ``min_held_out`` seconds, naming them."""
    from ..data.audio_check import check_audio_file
    bad = [(path, reason) for path in files if (reason := check_audio_file(path)) is not None]
    if bad:
        listing = '\n'.join(f"  {path}: {reason}" for path, reason in bad)
        raise MissingDataError(f"--audio {audio_dir}: {len(bad)} of {len(files)} audio files cannot be used:\n"
                               f"{listing}\nRemove or fix them.")
    by_stem = {p.stem: p for p in files}
    for name in split_tracks(list(by_stem))['evaluate']:
        duration = audio_info(by_stem[name]).duration
        if duration < min_held_out:
            raise ConfigurationError(f"--audio {audio_dir}: the held-out track {by_stem[name].name} lasts "
                                     f"{duration:.2f} s, shorter than --segment-duration {min_held_out:g} s: lower "
                                     "--segment-duration or give a longer last track (tracks are split by name).")


def prepare_demo_data(cache: Path, sample_rate: int, audio_dir: tp.Optional[Path] = None,
                      min_held_out: float = 0.) -> tp.Dict[str, Path]:
    """Tracks split by track, resampled to ``sample_rate`` mono wav, with one manifest folder per split.

    Reuses what an earlier call finished for the same music (the same files of the same ``audio_dir``, or the
    Debian songs), and says so. ``audio_dir``'s files are checked first (`check_user_audio`, held-out track at
    least ``min_held_out`` s). Returns ``{split: manifest_dir}``.
    """
    tracks: tp.Dict[str, tp.Callable[[], torch.Tensor]] = {}
    if audio_dir is not None:
        audio_dir = Path(audio_dir)
        if not audio_dir.is_dir():
            raise MissingDataError(f"--audio {audio_dir}: no such folder.")
        files = audio_files(audio_dir)
        tracks = {p.stem: (lambda p=p: convert_audio(*audio_read(p), sample_rate, 1)) for p in files}  # mono [1, L]
        split_tracks(list(tracks))  # too few tracks: fail before writing anything
        root = user_cache_root(Path(cache), sample_rate, audio_dir, files)
        reused = f"Reusing prepared music in {root} (same files as {audio_dir})"
    else:
        root = Path(cache) / f'sectoid-{sample_rate}hz'
        reused = f"Reusing prepared music in {root}"
    manifests = {split: root / 'egs' / split for split in SPLITS}
    if (root / COMPLETE).is_file():
        print(reused, flush=True)
        return manifests
    if audio_dir is not None:
        check_user_audio(audio_dir, files, min_held_out)
    else:
        songs = fetch_debian_songs(Path(cache))
        tracks = {p.name: (lambda p=p: mix_song(p, sample_rate)) for p in songs}
    shutil.rmtree(root, ignore_errors=True)  # what an interrupted preparation left
    for split, names in split_tracks(list(tracks)).items():
        folder = root / 'audio' / split
        folder.mkdir(parents=True)
        for name in names:
            wav = tracks[name]()
            soundfile.write(folder / f'{name}.wav', wav[0].numpy().astype(np.float32), sample_rate)
        write_manifest(folder, manifests[split])
    (root / COMPLETE).write_text(f"{audio_dir or DEBIAN_PACKAGE}\n")
    return manifests


def check_held_out(manifest: Path, segment_duration: float) -> None:
    """Refuse, before any training, held-out audio too short for one segment."""
    from ..data.audio_check import read_manifest
    from ..metrics.codec import manifest_file
    durations = [meta.duration for meta in read_manifest(manifest_file(manifest))]
    if not any(duration >= segment_duration for duration in durations):
        longest = max(durations, default=0.)
        raise ConfigurationError(f"The held-out track(s) in {manifest} are shorter than --segment-duration "
                                 f"{segment_duration:g} s (longest {longest:.2f} s): lower --segment-duration.")


def prepare_music(out: Path, cache: Path, audio: tp.Optional[Path], held_out_seconds: float) -> tp.Dict[str, Path]:
    """Check that ``cache`` and ``out`` are writable, prepare the music (``audio`` or the Debian songs) and check
    the held-out track holds ``held_out_seconds``. Returns {split: manifest folder}."""
    from ..environment import CACHE_ENV, ensure_writable_dir
    ensure_writable_dir(cache, f"pass --cache DIR or set {CACHE_ENV} to a writable directory")
    ensure_writable_dir(out, "pass --out DIR with a writable directory")
    print(f"Preparing music ({'--audio ' + str(audio) if audio else 'Debian package fretsonfire-songs-sectoid'}) "
          f"in {cache}", flush=True)
    sample_rate = solver_config(CODEC_SOLVER).sample_rate  # the music is prepared at the codecs' rate
    manifests = prepare_demo_data(Path(cache), sample_rate, audio, min_held_out=held_out_seconds)
    check_held_out(manifests['evaluate'], held_out_seconds)
    return manifests
