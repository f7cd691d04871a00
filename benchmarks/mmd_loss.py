"""Benchmark of the chunked MMD^2 against a straightforward full-matrix implementation.

For each number of samples S it times forward + backward and measures the peak memory of the loss
on random codes (K=4 codebooks of dimension N=128, so D=512), the factorized side built by
per-codebook permutation as in ``MMDLoss``, with the paper's multi-scale Gaussian kernel:

- ``ours``: ``audiocraft_mmd.losses.mmd2_unbiased`` (blocks of rows, memory linear in S);
- ``naive``: autograd through the full S x S matrices for xx, yy and xy.

Peak memory is ``torch.cuda.max_memory_allocated`` on CUDA. On CPU every (implementation, S) pair
runs in a fresh subprocess and reports its peak RSS minus its RSS once the inputs exist.

Usage::

    python benchmarks/mmd_loss.py --sizes 1280 4096 11776 --device cpu --repeats 3
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import typing as tp

import torch

from audiocraft_mmd.losses import build_kernel, factorize, mmd2_unbiased

K, N = 4, 128
SIGMAS = (0.1, 1.0, 5.0, 10.0, 20.0, 50.0)


def naive_mmd2(x: torch.Tensor, y: torch.Tensor, sigmas: tp.Sequence[float] = SIGMAS) -> torch.Tensor:
    """Eq. (7) the obvious way: full S x S kernel matrices, autograd for the backward."""
    def gram(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d2 = (a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1) - 2 * a @ b.t()).clamp_min(0)
        return sum(torch.exp(-d2 / (2 * s ** 2)) for s in sigmas)

    S, M = x.shape[0], y.shape[0]
    off_x = 1 - torch.eye(S, device=x.device, dtype=x.dtype)
    off_y = 1 - torch.eye(M, device=y.device, dtype=y.dtype)
    return ((gram(x, x) * off_x).sum() / (S * (S - 1)) + (gram(y, y) * off_y).sum() / (M * (M - 1))
            - 2 * gram(x, y).mean())


def _current_rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: fall back to the peak so far
        return _peak_rss_bytes()


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(impl: str, size: int, device: torch.device, repeats: int, warmup: int) -> tp.Dict[str, float]:
    """Median forward + backward time and peak memory of one implementation at S = ``size``."""
    kernel = build_kernel("multiscale_gaussian", sigmas=SIGMAS)

    def loss_fn(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return mmd2_unbiased(x, y, kernel) if impl == "ours" else naive_mmd2(x, y)

    def step(codes: torch.Tensor, seed: int) -> float:
        leaf = codes.detach().requires_grad_()
        generator = torch.Generator().manual_seed(seed)
        x = leaf.reshape(leaf.shape[0], K * N)
        y = factorize(leaf, generator).reshape(leaf.shape[0], K * N)
        loss = loss_fn(x, y)
        loss.backward()
        return loss.item()

    step(torch.randn(64, K, N, device=device), 0)  # library init (threads, BLAS) not counted
    codes = torch.randn(size, K, N, generator=torch.Generator().manual_seed(0)).to(device)
    _sync(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = _current_rss_bytes()
    times, value = [], float("nan")
    for i in range(warmup + repeats):
        _sync(device)
        start = time.perf_counter()
        value = step(codes, 1)
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated(device) if device.type == "cuda" else _peak_rss_bytes()) - base
    return {"time_s": statistics.median(times), "peak_mb": peak / 2 ** 20, "loss": value}


def run_isolated(impl: str, size: int, args: argparse.Namespace) -> tp.Dict[str, float]:
    """Run :func:`measure` in a fresh interpreter (CPU peak RSS must not see other runs)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", impl, "--sizes", str(size),
           "--device", args.device, "--repeats", str(args.repeats), "--warmup", str(args.warmup)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1280, 4096, 11776], help="numbers of samples S")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (the median is reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--skip-naive-above", type=int, default=16384,
                        help="skip the naive implementation above this S (it needs ~100 S^2 bytes)")
    parser.add_argument("--worker", choices=["ours", "naive"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    if args.worker:
        print(json.dumps(measure(args.worker, args.sizes[0], device, args.repeats, args.warmup)))
        return

    print(f"device={args.device} threads={args.threads or torch.get_num_threads()} K={K} N={N} D={K * N} "
          f"kernel=multiscale_gaussian{SIGMAS} repeats={args.repeats} (median) warmup={args.warmup}")
    header = (f"{'S':>6} | {'ours s':>8} | {'naive s':>8} | {'speedup':>7} | {'ours MB':>8} | "
              f"{'naive MB':>9} | {'mem ratio':>9} | {'|loss diff|':>11}")
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        ours = run_isolated("ours", size, args) if device.type == "cpu" else \
            measure("ours", size, device, args.repeats, args.warmup)
        naive: tp.Optional[tp.Dict[str, float]] = None
        if size <= args.skip_naive_above:
            naive = run_isolated("naive", size, args) if device.type == "cpu" else \
                measure("naive", size, device, args.repeats, args.warmup)
        if naive is None:
            print(f"{size:>6} | {ours['time_s']:>8.3f} | {'skipped':>8} | {'-':>7} | {ours['peak_mb']:>8.1f} | "
                  f"{'skipped':>9} | {'-':>9} | {'-':>11}")
        else:
            speedup = naive["time_s"] / ours["time_s"]
            mem_ratio = naive["peak_mb"] / max(ours["peak_mb"], 1e-6)
            print(f"{size:>6} | {ours['time_s']:>8.3f} | {naive['time_s']:>8.3f} | {speedup:>6.1f}x | "
                  f"{ours['peak_mb']:>8.1f} | {naive['peak_mb']:>9.1f} | {mem_ratio:>8.1f}x | "
                  f"{abs(ours['loss'] - naive['loss']):>11.2e}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
