"""Generation steps and wall time of the delay pattern against flatten, at equal LM size.

The paper's speed claim: an LM that predicts the K codebooks of a frame together (delay pattern,
MusicGen-MMD) needs about T steps for T frames, while one that models the joint distribution by
flattening the codebooks needs K*T steps. Both LMs below share every weight shape (same
transformer, same K embeddings and K output heads); only the pattern differs. Tokens are sampled
unconditionally (top-k), as MusicGen does with its KV cache.

Usage::

    python benchmarks/generation.py --duration 5 --scale base --repeats 3
    python benchmarks/generation.py --duration 2 --scale small   # MusicGen-small's transformer (300M)
"""
import argparse
import json
import statistics
import time
import typing as tp

import torch

from audiocraft.models.lm import LMModel
from audiocraft.modules.codebooks_patterns import DelayedPatternProvider, UnrolledPatternProvider
from audiocraft.modules.conditioners import ConditionFuser, ConditioningProvider

#: transformer sizes: (dim, heads, layers); 'small' is MusicGen-small.
SCALES = {'xsmall': (64, 2, 2), 'base': (256, 4, 4), 'medium': (512, 8, 8), 'small': (1024, 16, 24)}


def build_lm(pattern: str, codebooks: int, cardinality: int, scale: str, seed: int) -> LMModel:
    """An unconditional LM over ``codebooks`` x ``cardinality`` tokens with the ``pattern`` ('delay' or 'flatten')."""
    dim, heads, layers = SCALES[scale]
    if pattern == 'delay':
        provider = DelayedPatternProvider(n_q=codebooks)
    else:
        provider = UnrolledPatternProvider(n_q=codebooks, flattening=list(range(codebooks)), delays=[0] * codebooks)
    torch.manual_seed(seed)
    fuser = ConditionFuser({'cross': [], 'prepend': [], 'sum': [], 'input_interpolate': []})
    lm = LMModel(provider, ConditioningProvider({}), fuser, n_q=codebooks, card=cardinality, dim=dim,
                 num_heads=heads, num_layers=layers, hidden_scale=4, causal=True, cross_attention=False,
                 norm_first=True, bias_proj=False, bias_ff=False, bias_attn=False)
    return lm.eval()


def time_generation(lm: LMModel, frames: int, batch: int, top_k: int, seed: int) -> tp.Tuple[float, int, tuple]:
    """Seconds, LM steps and the shape of the tokens [B, K, T] of one generation of ``frames`` frames."""
    steps = 0

    def count(_generated: int, _total: int) -> None:
        nonlocal steps
        steps += 1

    torch.manual_seed(seed)
    start = time.perf_counter()
    with torch.no_grad():
        tokens = lm.generate(num_samples=batch, max_gen_len=frames, use_sampling=True, top_k=top_k, callback=count)
    return time.perf_counter() - start, steps, tuple(tokens.shape)


def main(argv: tp.Optional[tp.List[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--duration', type=float, default=5., help="seconds of audio to generate (default 5)")
    parser.add_argument('--frame-rate', type=float, default=50., help="tokenizer frame rate in Hz (EnCodec 32 kHz: 50)")
    parser.add_argument('--codebooks', type=int, default=4)
    parser.add_argument('--cardinality', type=int, default=2048)
    parser.add_argument('--scale', choices=sorted(SCALES), default='base')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--top-k', type=int, default=250)
    parser.add_argument('--repeats', type=int, default=3, help="median of this many runs (after one warm-up)")
    parser.add_argument('--threads', type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', help="also write the figures here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    frames = int(round(args.duration * args.frame_rate))
    dim, heads, layers = SCALES[args.scale]
    print(f"{args.duration:g} s at {args.frame_rate:g} Hz = {frames} frames x {args.codebooks} codebooks of "
          f"{args.cardinality}; LM dim {dim}, {layers} layers, {heads} heads; batch {args.batch}; "
          f"{args.device}, {torch.get_num_threads()} threads; median of {args.repeats}")
    rows = {}
    for pattern in ('delay', 'flatten'):
        lm = build_lm(pattern, args.codebooks, args.cardinality, args.scale, args.seed).to(args.device)
        params = sum(p.numel() for p in lm.parameters())
        time_generation(lm, min(frames, 10), args.batch, args.top_k, args.seed)  # warm-up
        runs = [time_generation(lm, frames, args.batch, args.top_k, args.seed) for _ in range(args.repeats)]
        seconds = statistics.median(run[0] for run in runs)
        steps, shape = runs[0][1], runs[0][2]
        rows[pattern] = {'params': params, 'steps': steps, 'seconds': seconds, 'ms_per_step': 1e3 * seconds / steps,
                         'realtime_factor': args.duration / seconds, 'tokens_shape': list(shape)}
    print(f"\n{'pattern':<8} {'params':>10} {'steps':>7} {'wall s':>8} {'ms/step':>8} {'x realtime':>10}")
    for pattern, row in rows.items():
        print(f"{pattern:<8} {row['params'] / 1e6:>9.2f}M {row['steps']:>7d} {row['seconds']:>8.2f} "
              f"{row['ms_per_step']:>8.2f} {row['realtime_factor']:>10.2f}")
    delay, flatten = rows['delay'], rows['flatten']
    summary = {'step_ratio': flatten['steps'] / delay['steps'], 'time_ratio': flatten['seconds'] / delay['seconds']}
    print(f"\nflatten / delay: {summary['step_ratio']:.2f}x the steps, {summary['time_ratio']:.2f}x the wall time "
          f"(K = {args.codebooks})")
    result = {'config': vars(args), 'frames': frames, 'rows': rows, **summary}
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
