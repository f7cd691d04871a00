"""One codec's figures on a manifest (`audiocraft_mmd.metrics.codec`), with the same draws for every codec,
cached beside its XP, and the working-codec checks they carry."""
import typing as tp
from pathlib import Path

from .cache import cached_figures

MACRO_CLIPS = 32  # held-out segments per MMD estimate
MEASURE_SEED = 0  # the same draws (MMD permutations, time shuffles, dependence null) for every codec
FIGURES = [  # (key, label, format, lower is better; None: neither)
    ('tc_percent_delay', 'I, delay-aligned (%)', '.3f', True),
    ('tc_percent_parallel', 'I, parallel-aligned (%)', '.3f', True),
    ('mmd', 'MMD, fixed bandwidths', '.2e', True),
    ('mmd_scale_free', 'MMD, scale-free', '.2e', True),
    ('latent_rms', 'latent rms', '.3f', None),
    ('msspec', 'MSSpec', '.4f', True),
    ('sisnr_db', 'SI-SNR (dB)', '.2f', False),
    ('code_ablation_gap_db', 'code ablation gap (dB)', '.1f', False),
    ('codebook_entropy_min_bits', 'codebook entropy, min (bits)', '.2f', False),
    ('codebook_entropy_mean_bits', 'codebook entropy, mean (bits)', '.2f', False),
]


def measure(model_name: tp.Union[str, Path], manifest: Path, segment_duration: float,
            max_segments: tp.Optional[int] = None, desc: str = 'measuring', seed: int = MEASURE_SEED,
            cache: tp.Optional[Path] = None) -> dict:
    """Every figure of one codec on the manifest's audio cut in ``segment_duration`` s segments (at most
    ``max_segments``), with the same draws for every codec.

    With ``cache`` (a JSON file), a measurement made with the same model file, manifest and settings is
    read back instead of measured again.
    """
    key = {'model': str(model_name), 'model_mtime_ns': Path(model_name).stat().st_mtime_ns if Path(model_name).is_file()
           else None, 'manifest': str(manifest), 'segment_duration': segment_duration,
           'max_segments': max_segments, 'macro_clips': MACRO_CLIPS, 'seed': seed}

    def compute() -> dict:
        from ..metrics.codec import measure_codec
        from ..models.compression import load_codec
        model, cfg = load_codec(model_name)
        return measure_codec(model, manifest, cfg, segment_duration=segment_duration, max_segments=max_segments,
                             macro_clips=MACRO_CLIPS, seed=seed, desc=desc).to_dict()

    return compute() if cache is None else cached_figures(cache, key, compute)


def failed_checks(runs: tp.Sequence[dict]) -> tp.List[str]:
    """The working-codec checks failed by any seed, with their numbers."""
    return [f"seed {run['seed']}: {check['name']} failed, {check['detail']}"
            for run in runs for check in run['checks'] if not check['passed']]
