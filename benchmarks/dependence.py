"""Throughput of the codebook dependence metrics (``audiocraft_mmd.metrics``).

Generates Zipf-like codes [B, K, T] with some dependence between consecutive codebooks (codebook k
copies a relabelled codebook k-1 with probability ``--copy``, else draws independently), then times
``DependenceAccumulator.update`` over the items plus ``result()`` with the default correction
(which includes the permutation null), and prints frames/s and seconds.

Usage::

    python benchmarks/dependence.py --frames 250000 --codebooks 4 --cardinality 2048 --repeats 3
"""
import argparse
import json
import statistics
import time
import typing as tp

import numpy as np
import torch

from audiocraft_mmd.alignment import BUILTIN_ALIGNMENTS
from audiocraft_mmd.metrics import CORRECTIONS, DEFAULT_CORRECTION, DependenceAccumulator


def make_codes(frames: int, codebooks: int, cardinality: int, frames_per_item: int, copy: float,
               seed: int = 0) -> torch.Tensor:
    """Zipf-like LongTensor codes [B, K, T], T = frames_per_item, B = ceil(frames / T)."""
    rng = np.random.default_rng(seed)
    items = -(-frames // frames_per_item)
    total = items * frames_per_item
    weights = 1.0 / (np.arange(cardinality) + 10.0)
    codes = rng.choice(cardinality, size=(codebooks, total), p=weights / weights.sum())
    for k in range(1, codebooks):
        relabel = rng.permutation(cardinality)
        codes[k] = np.where(rng.random(total) < copy, relabel[codes[k - 1]], codes[k])
    return torch.from_numpy(codes.reshape(codebooks, items, frames_per_item).transpose(1, 0, 2).copy())


def run_once(codes: torch.Tensor, args: argparse.Namespace, batch_items: int) -> tp.Tuple[float, tp.Any]:
    start = time.perf_counter()
    acc = DependenceAccumulator(args.codebooks, args.cardinality, alignment=args.alignment)
    for first in range(0, codes.shape[0], batch_items):
        acc.update(codes[first:first + batch_items])
    result = acc.result(correction=args.correction, permutations=args.permutations, generator=args.seed)
    return time.perf_counter() - start, result


def main(argv: tp.Optional[tp.Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=250_000, help="total frames (samples) over all items")
    parser.add_argument("--codebooks", type=int, default=4)
    parser.add_argument("--cardinality", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--permutations", type=int, default=1)
    parser.add_argument("--frames-per-item", type=int, default=1500, help="T of each item (30 s at 50 Hz)")
    parser.add_argument("--batch-items", type=int, default=64, help="items per update() call")
    parser.add_argument("--copy", type=float, default=0.2, help="probability that codebook k copies k-1")
    parser.add_argument("--alignment", choices=BUILTIN_ALIGNMENTS, default="parallel")
    parser.add_argument("--correction", choices=CORRECTIONS, default=DEFAULT_CORRECTION)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="also print the timings as one JSON line")
    args = parser.parse_args(argv)

    codes = make_codes(args.frames, args.codebooks, args.cardinality, args.frames_per_item, args.copy, args.seed)
    print(f"codes {tuple(codes.shape)} ({codes.shape[0] * codes.shape[2]:,} frames), K={args.codebooks}, "
          f"cardinality {args.cardinality}, alignment {args.alignment}, correction '{args.correction}', "
          f"{args.permutations} permutation(s), torch threads {torch.get_num_threads()}")
    times = []
    result = None
    for repeat in range(args.repeats):
        seconds, result = run_once(codes, args, args.batch_items)
        times.append(seconds)
        print(f"repeat {repeat}: {seconds:.3f} s, {result.num_samples / seconds:,.0f} frames/s")
    best, mean = min(times), statistics.mean(times)
    print(f"update + result: best {best:.3f} s ({result.num_samples / best:,.0f} frames/s), "
          f"mean {mean:.3f} s over {args.repeats} repeats; stored tuples "
          f"{result.num_samples * args.codebooks * (2 if args.cardinality <= 2 ** 15 else 4) / 2 ** 20:.1f} MiB")
    print(result.format_table())
    if args.json:
        print(json.dumps({"frames": result.num_samples, "best_s": best, "mean_s": mean, "times_s": times,
                          "frames_per_s": result.num_samples / best, "tc_percent": result.tc_percent}))


if __name__ == "__main__":
    main()
