"""Synthetic music-like clips (notes with harmonics over a noise floor) for tests and quick runs."""
import json
from pathlib import Path

import numpy as np
import soundfile

from .manifests import write_manifest


REGISTERS = {'low': (0, 18), 'high': (18, 36)}  # semitones above 110 Hz


def synthetic_clip(duration: float, sample_rate: int, rng: np.random.Generator,
                   register: str = 'low') -> np.ndarray:
    """A mono clip [L] of random notes in ``register`` ('low' or 'high') with harmonics and envelopes, peak 0.5."""
    low, high = REGISTERS[register]
    length = int(duration * sample_rate)
    t = np.arange(length) / sample_rate
    clip = 0.01 * rng.standard_normal(length)
    note_len = int(rng.uniform(0.1, 0.4) * sample_rate)
    for start in range(0, length, note_len):
        freq = 110 * 2 ** (rng.integers(low, high) / 12)
        seg = slice(start, min(start + note_len, length))
        env = np.exp(-np.arange(seg.stop - seg.start) / (0.3 * note_len))
        for harmonic in range(1, 5):
            clip[seg] += env * np.sin(2 * np.pi * freq * harmonic * t[seg]) / harmonic ** 1.5
    return (0.5 * clip / np.abs(clip).max()).astype(np.float32)


def music_info(index: int, register: str) -> dict:
    """MusicGen metadata (the ``.json`` audiocraft's MusicDataset reads beside each audio file)."""
    return {
        'title': f'synthetic {index}', 'artist': 'audiocraft-mmd', 'key': '', 'bpm': 120.0,
        'genre': 'synthetic', 'moods': [], 'keywords': [register], 'name': f'synthetic_{index}',
        'instrument': 'harmonic tones', 'description': f'{register} register melody of harmonic tones',
    }


def write_synthetic_dataset(root: Path, splits: dict, duration: float = 3.0, sample_rate: int = 16000,
                            seed: int = 0) -> dict:
    """Write ``{split: num_files}`` synthetic wav files under ``root/audio/<split>`` with their manifests.

    Files alternate between a low and a high register; each has a MusicGen ``.json`` whose description
    says which, so a text-conditioned LM has something to learn. Returns ``{split: manifest_dir}``
    usable as ``datasource.<split>=...``.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    manifests = {}
    for split, num_files in splits.items():
        audio_dir = root / 'audio' / split
        audio_dir.mkdir(parents=True, exist_ok=True)
        for index in range(num_files):
            register = 'low' if index % 2 == 0 else 'high'
            path = audio_dir / f'{split}_{index:03d}.wav'
            soundfile.write(path, synthetic_clip(duration, sample_rate, rng, register), sample_rate)
            path.with_suffix('.json').write_text(json.dumps(music_info(index, register)))
        manifests[split] = write_manifest(audio_dir, root / 'egs' / split).parent
    return manifests
