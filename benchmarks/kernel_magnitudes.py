"""How large each kernel's MMD is on the same codes, and the weights that give every kernel the loss size of
the paper's multi-scale Gaussian at weight 1e3 (Table 3: "we adapted the weight of each kernel so that the
magnitudes of the losses stayed approximately consistent across kernels").

It encodes ``--clips`` segments of a manifest with a codec, takes the per-codebook vectors of its RVQ
(`mmd.stream: quantized`), and evaluates every kernel of Table 3 with its paper parameters on the same
macro-batches (the same frames and the same permutations for every kernel: ``--draws`` draws of
``--frames-per-item`` delay-aligned frames per clip). The magnitude of a kernel's loss is the mean of
|MMD| over the draws (the unbiased estimate is often negative on nearly independent codes: with the
linear kernel, whose MMD only compares the means, which permutations leave unchanged, it is pure
estimator noise); the weight that gives a kernel the Gaussian's magnitude at 1e3 is
``1e3 * magnitude(gaussian) / magnitude(kernel)``. The mean MMD is printed too, with its 95 % interval,
to show whether a kernel sees any dependence at all.

Usage (the small codec shipped with the demo, on the demo's training music)::

    uv run python benchmarks/kernel_magnitudes.py --model audiocraft_mmd/demo/start_codec.th \\
        --manifest ~/.cache/audiocraft-mmd/demo-data/sectoid-16000hz/egs/train
"""
import argparse
import json
import statistics
import typing as tp

import torch

from audiocraft_mmd.environment import silence_dependency_notices
from audiocraft_mmd.losses import KERNELS, MMDLoss
from audiocraft_mmd.metrics.codec import iter_segments
from audiocraft_mmd.models.compression import load_codec
from audiocraft_mmd.quantization import codebook_vectors
from audiocraft_mmd.stats import mean_interval

REFERENCE_KERNEL, REFERENCE_WEIGHT = 'multiscale_gaussian', 1e3


@torch.no_grad()
def encode(model, manifest: str, clips: int, segment_duration: float, batch_size: int = 16) -> torch.Tensor:
    """Per-codebook vectors [B, K, N, T] of the first ``clips`` segments of ``manifest``."""
    segments = list(iter_segments(manifest, model.sample_rate, model.channels, segment_duration, max_segments=clips))
    if len(segments) < clips:
        raise SystemExit(f"error: {manifest} holds {len(segments)} segments of {segment_duration:g} s, not {clips}.")
    vectors = []
    for start in range(0, clips, batch_size):
        x = torch.stack(segments[start:start + batch_size])
        x, _ = model.preprocess(x)
        vectors.append(codebook_vectors(model.quantizer, model.encoder(x), stream='quantized'))
    return torch.cat(vectors)


def magnitudes(vectors: torch.Tensor, draws: int, frames_per_item: int, seed: int = 0) -> tp.Dict[str, list]:
    """{kernel: [MMD of each draw]}, the same frames and permutations for every kernel."""
    values: tp.Dict[str, list] = {name: [] for name in KERNELS}
    for draw in range(draws):
        for name in KERNELS:
            loss = MMDLoss(kernel=name, alignment='delay', frames_per_item=frames_per_item, collapse_check_every=0)
            values[name].append(float(loss(vectors.double(), torch.Generator().manual_seed(seed + draw))))
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', required=True, help="a compression checkpoint, exported file or //sig/SIG")
    parser.add_argument('--manifest', required=True, help="manifest folder (data.jsonl)")
    parser.add_argument('--clips', type=int, default=256, help="clips per macro-batch (paper: 256 per GPU)")
    parser.add_argument('--segment-duration', type=float, default=1., help="seconds per clip (paper: 1)")
    parser.add_argument('--frames-per-item', type=int, default=5, help="aligned frames per clip (paper: 5)")
    parser.add_argument('--draws', type=int, default=10, help="macro-batch draws (frames and permutations)")
    parser.add_argument('--out', help="write the table as JSON")
    args = parser.parse_args()
    silence_dependency_notices()
    codec = load_codec(args.model)
    vectors = encode(codec.model, args.manifest, args.clips, args.segment_duration)
    values = magnitudes(vectors, args.draws, args.frames_per_item)
    print(f"{args.model}: {args.clips} clips of {args.segment_duration:g} s x {args.frames_per_item} delay-aligned "
          f"frames = {args.clips * args.frames_per_item} samples, {args.draws} draws, mean +- 95 % interval")
    print(f"{'kernel':22}{'mean MMD':>26}{'mean |MMD|':>12}  weight matching {REFERENCE_KERNEL} at "
          f"{REFERENCE_WEIGHT:g}")
    reference = statistics.fmean(abs(v) for v in values[REFERENCE_KERNEL])
    rows = {}
    for name in KERNELS:
        interval = mean_interval(values[name])
        magnitude = statistics.fmean(abs(v) for v in values[name])
        weight = REFERENCE_WEIGHT * reference / magnitude
        rows[name] = {'mean': interval.mean, 'low': interval.low, 'high': interval.high, 'magnitude': magnitude,
                      'weight': weight}
        print(f"{name:22}{interval.format('.3e'):>26}{magnitude:>12.3e}  {weight:.3g}")
    if args.out:
        with open(args.out, 'w') as f:
            json.dump({'model': args.model, 'manifest': args.manifest, 'clips': args.clips,
                       'frames_per_item': args.frames_per_item, 'draws': args.draws, 'kernels': rows}, f, indent=2)
        print(f"Wrote {args.out}")


if __name__ == '__main__':
    main()
