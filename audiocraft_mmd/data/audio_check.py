"""Check, before training, that every file a manifest lists can be trained on.

AudioCraft's dataset replaces a file it cannot read by another random file of the manifest (after a
logged warning), so a deleted, corrupt or empty file silently changes the data. This module finds such
files in one fast pass: the header (its duration against the manifest's), then short reads (the whole
file only when the short reads are silent, to tell a silent file from a quiet intro, or when the file
stores float samples, the only encoding that can hold NaN or Inf).
"""
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
import gzip
import json
import logging
import os
from pathlib import Path
import typing as tp

from audiocraft.data.audio import audio_info, audio_read
from audiocraft.data.audio_dataset import AudioMeta, load_audio_meta, save_audio_meta
import soundfile
import torch

from ..errors import ConfigurationError

logger = logging.getLogger(__name__)

SILENCE_PEAK = 1e-4  # peak amplitude (-80 dBFS) at or below which a whole file counts as silent
PROBE_SECONDS = 0.5  # length of each short read
PROBE_POSITIONS = (0.0, 0.5, 0.9)  # where the short reads start, as fractions of the duration
REQUIRED_FIELDS = ('path', 'duration', 'sample_rate')  # of each manifest line (AudioMeta)
# |manifest duration - header duration| allowed, in s: a manifest written by hand or by another tool may round
# (audiocraft's writer, `audiocraft-mmd manifest`, stores the header's duration unrounded) and an mp3 header
# may differ from the decoded length by an encoder delay (~0.05 s). A larger gap makes AudioCraft seek past the
# end of the file (``assert frames`` in audiocraft/data/audio.py) or never read part of it.
DURATION_TOLERANCE = 0.1
FLOAT_SUBTYPES = ('FLOAT', 'DOUBLE')  # soundfile subtypes that can hold NaN / Inf samples


@dataclass
class BadFile:
    """A manifest entry that cannot be trained on: its 1-based ``line``, ``path`` and the ``reason``."""
    line: int
    path: str
    reason: str


@dataclass
class ManifestCheck:
    """The result of checking every file of one manifest (``path``, a data.jsonl or data.jsonl.gz)."""
    path: Path
    total: int
    bad: tp.List[BadFile] = field(default_factory=list)

    @property
    def good_lines(self) -> tp.List[int]:
        """1-based manifest lines whose file passed."""
        bad = {b.line for b in self.bad}
        return [line for line in range(1, self.total + 1) if line not in bad]

    def describe(self, limit: int = 20) -> str:
        """One line per bad file (at most ``limit``, then a count)."""
        lines = [f"  line {b.line}: {b.path}: {b.reason}" for b in self.bad[:limit]]
        if len(self.bad) > limit:
            lines.append(f"  ... and {len(self.bad) - limit} more")
        return '\n'.join(lines)


def check_audio_file(path: tp.Union[str, Path], duration: tp.Optional[float] = None) -> tp.Optional[str]:
    """Why ``path`` cannot be trained on (no such file, empty, does not decode, no audio, a header duration
    other than the manifest's ``duration`` in s (when given), NaN or Inf samples, silent), or None."""
    path = Path(path)
    if not path.is_file():
        return 'no such file'
    if path.stat().st_size == 0:
        return 'empty file (0 bytes)'
    try:
        info = audio_info(path)
    except Exception as exc:  # any backend error: the file does not decode
        return f'does not decode ({type(exc).__name__}: {_first_line(exc)})'
    if not info.duration or info.duration <= 0 or info.sample_rate <= 0:
        return f'no audio (duration {info.duration} s at {info.sample_rate} Hz)'
    if duration is not None and abs(duration - info.duration) > DURATION_TOLERANCE:
        return (f'the manifest gives duration {duration:g} s but the file lasts {info.duration:.3f} s (its header); '
                f'they must agree within {DURATION_TOLERANCE:g} s')
    try:
        sound = False
        for position in PROBE_POSITIONS:
            seek = max(0., min(position * info.duration, info.duration - PROBE_SECONDS))
            wav, _ = audio_read(path, seek, PROBE_SECONDS)
            if (problem := _non_finite(wav, seek, info.sample_rate)) is not None:
                return problem
            sound = sound or bool(wav.numel() and float(wav.abs().max()) > SILENCE_PEAK)
        if sound and not _float_samples(path):
            return None
        wav, _ = audio_read(path)  # every probe was silent (is the whole file?), or floats (any NaN / Inf?)
    except Exception as exc:
        return f'does not decode ({type(exc).__name__}: {_first_line(exc)})'
    if wav.numel() == 0:
        return 'no audio samples'
    if (problem := _non_finite(wav, 0., info.sample_rate)) is not None:
        return problem
    peak = float(wav.abs().max())
    if peak <= SILENCE_PEAK:
        return f'silent (peak amplitude {peak:.2g})'
    return None


def _non_finite(wav: torch.Tensor, start: float, sample_rate: int) -> tp.Optional[str]:
    """Which non-finite samples ``wav`` [C, L] (read from ``start`` s) holds and where the first is, or None."""
    bad = ~torch.isfinite(wav)
    if not bool(bad.any()):
        return None
    kinds = ' and '.join(kind for kind, found in (('NaN', wav.isnan().any()), ('Inf', wav.isinf().any())) if found)
    first = start + int(bad.any(dim=0).nonzero()[0]) / sample_rate
    return f'holds {kinds} samples (first at {first:.2f} s); only finite samples can be trained on'


def _float_samples(path: Path) -> bool:
    """Whether ``path`` stores float samples (which may be NaN or Inf), by its header."""
    try:
        return soundfile.info(str(path)).subtype in FLOAT_SUBTYPES
    except Exception:  # a format soundfile does not read (mp3, m4a): decoded to finite samples
        return False


def read_manifest(manifest: tp.Union[str, Path]) -> tp.List[AudioMeta]:
    """The entries of a manifest (data.jsonl or data.jsonl.gz) by audiocraft's ``load_audio_meta``, once each
    line is checked.

    Raises:
        ConfigurationError: the manifest cannot be read, naming the first bad line (1-based) and what is wrong
            with it (not JSON, not an object, a missing field).
    """
    manifest = Path(manifest)
    try:
        with (gzip.open if manifest.name.lower().endswith('.gz') else open)(manifest, 'rb') as file:
            lines = file.readlines()
    except (OSError, EOFError) as exc:
        raise ConfigurationError(f"{manifest} is not a readable manifest ({type(exc).__name__}: "
                                 f"{_first_line(exc)})") from None
    for number, line in enumerate(lines, 1):
        where = f"{manifest} line {number}"
        try:
            entry = json.loads(line)
        except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
            problem = 'is empty' if not line.strip() else \
                f"is not valid JSON ({exc.msg} at column {exc.colno})" if isinstance(exc, json.JSONDecodeError) \
                else f"is not valid JSON ({_first_line(exc)})"
            raise ConfigurationError(f"{where} {problem}; each line is one JSON object with "
                                     f"{', '.join(REQUIRED_FIELDS)}.") from None
        if not isinstance(entry, dict):
            raise ConfigurationError(f"{where} is a JSON {type(entry).__name__}, not an object with "
                                     f"{', '.join(REQUIRED_FIELDS)}.")
        missing = [name for name in REQUIRED_FIELDS if name not in entry]
        if missing:
            raise ConfigurationError(f"{where} has no {' and no '.join(map(json.dumps, missing))} (its keys: "
                                     f"{', '.join(entry) or 'none'}); each line needs {', '.join(REQUIRED_FIELDS)}.")
    return load_audio_meta(manifest)


def check_manifest(manifest: tp.Union[str, Path], workers: tp.Optional[int] = None,
                   progress_every: int = 500) -> ManifestCheck:
    """Check every file of ``manifest``; logs progress every ``progress_every`` files on big manifests.

    Raises `ConfigurationError` (a `ValueError`) when the manifest itself cannot be read (`read_manifest`).
    """
    manifest = Path(manifest)
    meta = read_manifest(manifest)
    result = ManifestCheck(manifest, len(meta))
    workers = workers or min(8, 2 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reasons = pool.map(check_audio_file, [m.path for m in meta], [m.duration for m in meta])
        for index, reason in enumerate(reasons):
            if reason is not None:
                result.bad.append(BadFile(index + 1, meta[index].path, reason))
            if len(meta) > progress_every and (index + 1) % progress_every == 0:
                logger.info("Checked %d / %d files of %s (%d bad so far)", index + 1, len(meta), manifest,
                            len(result.bad))
    return result


def write_good_entries(check: ManifestCheck, out_dir: Path) -> Path:
    """Write the entries of ``check.path`` whose file passed to ``out_dir/data.jsonl`` (atomically)."""
    meta = read_manifest(check.path)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / 'data.jsonl'
    staging = out_dir / f'.data.jsonl.{os.getpid()}'
    save_audio_meta(staging, [meta[line - 1] for line in check.good_lines])
    staging.replace(target)
    return target


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ''
