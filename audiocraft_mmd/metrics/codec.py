"""Measure the codebook dependence of a compression model on a dataset (``audiocraft-mmd dependence``)."""
import typing as tp
from dataclasses import dataclass
from pathlib import Path

import torch
from audiocraft.data.audio import audio_read
from audiocraft.data.audio_dataset import load_audio_meta
from audiocraft.data.audio_utils import convert_audio
from audiocraft.models import CompressionModel
from tqdm import tqdm

from ..errors import ConfigurationError, MissingDataError
from .dependence import DependenceAccumulator, DependenceResult


def manifest_file(manifest_dir: tp.Union[str, Path]) -> Path:
    """``data.jsonl`` or ``data.jsonl.gz`` of an AudioCraft manifest folder (or the file itself)."""
    path = Path(manifest_dir)
    candidates = [path / 'data.jsonl', path / 'data.jsonl.gz'] if path.is_dir() else [path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise MissingDataError(f"No manifest at {manifest_dir}: expected a folder with data.jsonl or data.jsonl.gz "
                           "(`audiocraft-mmd manifest AUDIO_DIR OUT_DIR` writes one).")


def iter_segments(manifest_dir: tp.Union[str, Path], sample_rate: int, channels: int, segment_duration: float,
                  max_segments: tp.Optional[int] = None) -> tp.Iterator[torch.Tensor]:
    """Consecutive non-overlapping segments [C, L] of every file of the manifest, in manifest order.

    Each file is converted to ``sample_rate`` and ``channels``; a last piece shorter than
    ``segment_duration`` is dropped.
    """
    if segment_duration <= 0:
        raise ConfigurationError(f"--segment-duration must be > 0, got {segment_duration}.")
    length = int(segment_duration * sample_rate)
    count = 0
    for meta in load_audio_meta(manifest_file(manifest_dir)):
        wav, sr = audio_read(meta.path)
        wav = convert_audio(wav, sr, sample_rate, channels)
        for start in range(0, wav.shape[-1] - length + 1, length):
            if max_segments is not None and count >= max_segments:
                return
            count += 1
            yield wav[:, start:start + length]


@dataclass
class CodecDependence:
    """Dependence of a codec's codebooks on a dataset, for each alignment."""
    results: tp.Dict[str, DependenceResult]
    num_segments: int
    segment_duration: float

    def to_dict(self) -> dict:
        return {'num_segments': self.num_segments, 'segment_duration': self.segment_duration,
                'alignments': {name: result.to_dict() for name, result in self.results.items()}}


def measure_codec_dependence(model: CompressionModel, manifest_dir: tp.Union[str, Path],
                             alignments: tp.Sequence[str] = ('parallel', 'delay'), segment_duration: float = 10.,
                             max_segments: tp.Optional[int] = None, batch_size: int = 8,
                             device: tp.Union[str, torch.device] = 'cpu', progress: bool = True,
                             **result_kwargs: tp.Any) -> CodecDependence:
    """Encode the manifest's audio with ``model`` and measure the dependence of its codebooks.

    Args:
        model: any AudioCraft compression model with at least 2 codebooks.
        alignments: ``parallel`` and/or ``delay`` (the tuples MusicGen's delay pattern predicts together).
        segment_duration, max_segments: audio is cut into consecutive segments (see `iter_segments`).
        result_kwargs: passed to `DependenceAccumulator.result` (correction, permutations, generator).
    """
    num_codebooks = model.num_codebooks
    if num_codebooks < 2:
        raise ConfigurationError(f"The model has {num_codebooks} codebook: dependence between codebooks needs >= 2.")
    cardinality = model.cardinality
    accumulators = {name: DependenceAccumulator(num_codebooks, cardinality, alignment=name) for name in alignments}
    model = model.to(device).eval()
    segments = iter_segments(manifest_dir, model.sample_rate, model.channels, segment_duration, max_segments)
    bar = tqdm(segments, total=max_segments, desc='encoding', unit='segment', disable=not progress)
    count = 0
    batch: tp.List[torch.Tensor] = []

    def flush() -> None:
        with torch.no_grad():
            codes, _ = model.encode(torch.stack(batch).to(device))
        for accumulator in accumulators.values():
            accumulator.update(codes.cpu())
        batch.clear()

    for segment in bar:
        batch.append(segment)
        count += 1
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    if count == 0:
        raise MissingDataError(f"{manifest_dir}: no audio file is at least {segment_duration} s long; "
                               "lower --segment-duration.")
    results = {name: accumulator.result(**result_kwargs) for name, accumulator in accumulators.items()}
    return CodecDependence(results=results, num_segments=count, segment_duration=segment_duration)
