"""The cost of the MMD step of the paper codec (`solver=compression/encodec_mmd_32khz`), against a regular step.

Builds the paper's solver (32 kHz EnCodec, 4 RVQ codebooks of 2048, MS-STFT adversaries, balancer) on
synthetic audio and times, on the same weights:

- a regular training step (audiocraft's `CompressionSolver.run_step`: forward, adversaries, balancer,
  backward) on one batch of ``--batch-size`` clips;
- the MMD step (`CompressionMMDSolver.mmd_step`: re-encode ``mmd.num_batches`` stored batches, per-codebook
  vectors, MMD, backward), with gradient checkpointing on and off;
- what ``mmd.mode: bank`` adds to every regular step (`CompressionMMDSolver.bank_step` on the encoder output
  of one batch, with a full bank of ``mmd.num_batches - 1`` batches: per-codebook vectors, MMD over the bank,
  its backward to the encoder output; the regular backward then adds one tensor);

and prints each time (median of ``--repeats``), the memory each keeps for its backward (bytes of the tensors
autograd saves, measured with `torch.autograd.graph.saved_tensors_hooks`: what gradient checkpointing
reduces; on a GPU also the peak allocated memory), and the overhead of the MMD amortised over the
``mmd.num_batches`` regular steps of a macro-batch: ``t_mmd / (num_batches * t_regular)``. The goal is
<= 10 % at the paper's 32 batches. The bank mode runs at every step: its overhead is ``t_bank / t_regular``,
and the memory it keeps is the bank's values plus the gradient waiting for the regular backward (goal
<= 3 %); the bank's memory at the paper's size (32 batches x 64 clips x 5 frames x 4 codebooks x 128
dimensions, float32) is printed too.

Scaling. The paper runs 64 clips of 1 s per GPU and 32 batches per macro-batch, 5 aligned frames per clip
(1280 samples). A regular step costs ~linear in the batch; the MMD step re-encodes num_batches x batch
clips (forward + backward of the encoder, ~linear) plus the MMD itself, quadratic in the sample count S
(num_batches x batch x 5): at the paper's S = 1280 per GPU it is small next to the encoder. So the
amortised overhead at the paper's sizes is about (encoder forward + backward of one clip) / (full regular
step of one clip), which the reduced CPU run measures at the same ratio; on a GPU run it at full size
(``--batch-size 64 --num-batches 32``).

``--gather`` also times the all-gather of ``mmd.gather`` on 2 CPU ranks over gloo (spawned processes):
the MMD of the paper's 1280 samples per rank, with and without gathering.

Usage::

    uv run python benchmarks/mmd_step.py                       # CPU, reduced: 4 clips x 4 batches
    uv run python benchmarks/mmd_step.py --batch-size 64 --num-batches 32 --device cuda   # the paper's, on a GPU
"""
import argparse
import contextlib
import statistics
import tempfile
import time
import typing as tp
from pathlib import Path

import torch


@contextlib.contextmanager
def saved_bytes() -> tp.Iterator[tp.List[int]]:
    """Count the bytes of the tensors autograd saves for the backward inside the block (out[0])."""
    total = [0]

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        total[0] += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        yield total


def build_solver(solver: str, batch_size: int, num_batches: int, device: str, data: Path, updates: int = 1,
                 overrides: tp.Sequence[str] = ()):
    """The solver ``solver`` (a compression config) on ``data`` (synthetic clips at its rate), per-GPU batch
    ``batch_size``, ``updates`` training steps per epoch, then ``overrides`` (Hydra)."""
    from audiocraft_mmd import train
    from audiocraft_mmd.data import write_synthetic_dataset
    train.main.dora.dir = data / 'dora'
    sample_rate = train.main.get_xp([f'solver={solver}']).cfg.sample_rate
    splits = write_synthetic_dataset(data, {'train': 4, 'valid': 1}, duration=3.0, sample_rate=sample_rate)
    argv = [f'solver={solver}', f'datasource.train={splits["train"]}',
            f'datasource.valid={splits["valid"]}', 'datasource.evaluate=null', 'datasource.generate=null',
            f'dataset.batch_size={batch_size}', f'mmd.num_batches={num_batches}', f'device={device}',
            'dataset.num_workers=0', f'dataset.train.num_samples={batch_size * updates}',
            f'optim.updates_per_epoch={updates}', 'dataset.valid.num_samples=4', *overrides]
    xp = train.main.get_xp(argv)
    with xp.enter():
        return train.get_solver(xp.cfg)


def timed(fn: tp.Callable[[], tp.Any], repeats: int, device: str) -> tp.Tuple[float, int, tp.Optional[int]]:
    """Median seconds over ``repeats`` calls, bytes saved for backward, peak GPU bytes (None on CPU)."""
    times, saved = [], 0
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    for _ in range(repeats):
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        start = time.perf_counter()
        with saved_bytes() as total:
            fn()
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        saved = total[0]
    peak = torch.cuda.max_memory_allocated() if device.startswith('cuda') else None
    return statistics.median(times), saved, peak


Measure = tp.Tuple[float, int, tp.Optional[int]]  # seconds, bytes saved for backward (bank: kept), peak GPU bytes


def measure_steps(args: argparse.Namespace) -> tp.Tuple[tp.Dict[str, Measure], str]:
    """Time the regular step, the MMD step (checkpointing on and off) and the bank mode's extra per step for
    ``args`` (``solver``, ``batch_size``, ``num_batches``, ``device``, ``repeats``); returns them with a line
    describing the setting."""
    from audiocraft.solvers.compression import CompressionSolver
    from audiocraft_mmd.losses import SampleBank
    with tempfile.TemporaryDirectory() as tmp:
        solver = build_solver(args.solver, args.batch_size, args.num_batches, args.device, Path(tmp))
        generator = torch.Generator().manual_seed(0)
        clips = int(solver.cfg.dataset.segment_duration * solver.cfg.sample_rate)
        batch = 0.1 * torch.randn(args.batch_size, 1, clips, generator=generator)
        macro = 0.1 * torch.randn(args.batch_size * args.num_batches, 1, clips, generator=generator)
        results: tp.Dict[str, Measure] = {}

        def measure() -> dict:
            solver.model.train()
            solver.model(batch.to(solver.device))  # k-means init of the codebooks, as the first training step
            solver.mmd_rng.manual_seed(0)
            solver.rng = torch.Generator().manual_seed(1234)  # the adversaries' draw, set by audiocraft's train()

            def regular() -> None:
                solver.optimizer.zero_grad()
                CompressionSolver.run_step(solver, 0, batch, {})  # audiocraft's step: no MMD

            results['regular step'] = timed(regular, args.repeats, args.device)
            for flag in (True, False):
                solver.mmd_cfg.gradient_checkpointing = flag

                def mmd() -> None:
                    solver.optimizer.zero_grad()
                    solver.mmd_step(macro)

                results[f'MMD step, checkpointing {"on" if flag else "off"}'] = timed(mmd, args.repeats, args.device)

            solver.sample_bank = SampleBank(solver.mmd_loss, args.num_batches)
            with torch.no_grad():
                emb = solver._encode(batch.to(solver.device))  # what the regular forward's encoder gives
            for _ in range(args.num_batches - 1):
                solver.bank_step(emb, {})  # without gradient: fills the bank
            kept = [0]

            def bank() -> None:
                adder = solver.bank_step(emb.clone().requires_grad_(True), {})
                kept[0] = solver.sample_bank.nbytes + adder.grad.numel() * adder.grad.element_size()

            seconds, _, peak = timed(bank, args.repeats, args.device)
            results['bank mode, extra per step'] = (seconds, kept[0], peak)
            return {}

        solver.run_stage('train', measure)  # in a train stage, as the solver runs its steps
    return results, (f"solver={args.solver} on {args.device}: batch {args.batch_size} clips of "
                     f"{solver.cfg.dataset.segment_duration:g} s, macro-batch {args.num_batches} batches, "
                     f"mmd.frames_per_item {solver.mmd_cfg.frames_per_item}; median of {args.repeats}")


def overhead(name: str, seconds: float, results: tp.Dict[str, Measure], num_batches: int) -> str:
    """The amortised overhead of row ``name`` against the regular step ('' for the regular step itself)."""
    steps = 1 if name.startswith('bank') else num_batches  # the bank mode runs at every step
    return '' if name == 'regular step' else f"{100 * seconds / (steps * results['regular step'][0]):.2f} %"


def bench_steps(args: argparse.Namespace) -> None:
    results, setting = measure_steps(args)
    print(setting)
    print(f"{'':34}{'time (s)':>10}{'saved for backward':>22}{'peak GPU':>12}{'amortised':>12}")
    for name, (seconds, saved, peak) in results.items():
        peak_text = 'n/a' if peak is None else f"{peak / 2 ** 20:.0f} MiB"
        print(f"{name:34}{seconds:>10.3f}{saved / 2 ** 20:>18.1f} MiB{peak_text:>12}"
              f"{overhead(name, seconds, results, args.num_batches):>12}")
    print("amortised: MMD step time / (mmd.num_batches x regular step time), the training time the MMD adds; bank "
          "mode: its time per step / regular step time, and in place of 'saved for backward' the memory it keeps "
          "(the bank's values and the gradient waiting for the regular backward)")
    paper = 32 * 64 * 5 * 4 * 128 * 4
    print(f"bank at the paper's size: 32 batches x 64 clips x 5 frames x 4 codebooks x 128 dims, float32 = "
          f"{paper / 2 ** 20:.1f} MiB ({31 / 32 * paper / 2 ** 20:.1f} MiB held between steps, 31 batches)")


def _gather_rank(rank: int, init_file: str, samples: int, repeats: int, out: str) -> None:
    from audiocraft_mmd.losses import MMDLoss
    torch.distributed.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        codes = torch.randn(samples // 5, 4, 128, 5, generator=torch.Generator().manual_seed(rank),
                            requires_grad=True)
        times = {}
        for gather in (False, True):
            loss_fn = MMDLoss(alignment='parallel', gather=gather)
            durations = []
            loss_fn(codes, torch.Generator().manual_seed(0)).backward()  # warm-up
            for _ in range(repeats):
                torch.distributed.barrier()
                start = time.perf_counter()
                loss_fn(codes, torch.Generator().manual_seed(0)).backward()
                durations.append(time.perf_counter() - start)
            times[gather] = statistics.median(durations)
        torch.save(times, out)
    finally:
        torch.distributed.destroy_process_group()


def bench_gather(args: argparse.Namespace) -> None:
    import torch.multiprocessing as mp
    with tempfile.TemporaryDirectory() as tmp:
        outs = [f'{tmp}/rank{rank}.pt' for rank in range(2)]
        context = mp.get_context('spawn')
        procs = [context.Process(target=_gather_rank,
                                 args=(rank, f'{tmp}/init', args.gather_samples, args.repeats, outs[rank]))
                 for rank in range(2)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        times = torch.load(outs[0])
    print(f"mmd.gather on 2 CPU ranks (gloo, 1 thread each), {args.gather_samples} samples of 4 x 128 per rank, MMD "
          f"forward + backward, median of {args.repeats}: per rank {times[False]:.3f} s, gathered "
          f"({2 * args.gather_samples} samples) "
          f"{times[True]:.3f} s ({times[True] / times[False]:.1f}x: the MMD is quadratic in the samples)")


def main() -> None:
    import logging
    import warnings
    from audiocraft_mmd.environment import silence_dependency_notices
    silence_dependency_notices()
    logging.getLogger('audiocraft.environment').setLevel(logging.ERROR)
    # an untrained codec on noise has near-constant codes: the kernel sees no signal, the cost is the same
    warnings.filterwarnings('ignore', message='MMD kernel .* sees no signal')
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--solver', default='compression/encodec_mmd_32khz',
                        help="the compression solver config (default: the paper codec's)")
    parser.add_argument('--batch-size', type=int, default=4, help="clips per batch (paper: 64 per GPU)")
    parser.add_argument('--num-batches', type=int, default=4, help="batches per macro-batch (paper: 32)")
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--gather', action='store_true', help="also time mmd.gather on 2 CPU ranks")
    parser.add_argument('--gather-samples', type=int, default=1280, help="MMD samples per rank (paper: 1280)")
    args = parser.parse_args()
    bench_steps(args)
    if args.gather:
        bench_gather(args)


if __name__ == '__main__':
    main()
