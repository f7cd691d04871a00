"""Wav files of the report: 16-bit PCM through soundfile (no ffmpeg, no torchaudio backend)."""
from pathlib import Path

import soundfile
import torch


def write_wav(path: Path, wav: torch.Tensor, sample_rate: int) -> Path:
    """Write ``wav`` ([C, T] or [T], float) to ``path`` as 16-bit PCM at ``sample_rate``, creating folders.

    The signal is divided by its peak only when that peak exceeds 1 (quieter audio keeps its level), then
    clipped to [-1, 1]. Raises ``ValueError`` on another shape, an empty or non-finite signal or a bad rate.
    """
    path = Path(path)
    wav = wav.detach().to('cpu', torch.float64)
    if wav.dim() == 1:
        wav = wav[None]
    if wav.dim() != 2 or wav.shape[0] == 0 or wav.shape[1] == 0:
        raise ValueError(f"{path}: expected a [C, T] or [T] signal, got shape {tuple(wav.shape)}")
    if not torch.isfinite(wav).all():
        raise ValueError(f"{path}: the signal holds NaN or infinite values")
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ValueError(f"{path}: bad sample rate {sample_rate!r}")
    peak = wav.abs().max().item()
    if peak > 1:
        wav = wav / peak
    wav = wav.clamp(-1, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), wav.T.numpy(), int(sample_rate), subtype='PCM_16', format='WAV')
    return path
