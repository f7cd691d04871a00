"""One call that checks on a GPU what has never run on one, and prints one table (at most 8 minutes).

Rows, each with a status (``ok``, ``failed: <reason>`` or ``skipped (<why>)``), so one failure hides no other:

- the machine: GPU name, torch, CUDA and xFormers versions;
- `benchmarks/mmd_step.py` at the paper's size (``--batch-size 64 --num-batches 32``; its `measure_steps`): the
  regular step, the MMD step of ``mmd.mode: macro_batch`` with gradient checkpointing on and off, the extra
  per step of ``mmd.mode: bank``; time, peak GPU memory, amortised overhead;
- the MMD (`audiocraft_mmd.losses.MMDLoss`) forward + backward at 1280 and 12,032 samples (the paper's per-GPU
  and per-macro-batch counts) in float32 and under bf16 / fp16 autocast, the codes coming from a layer run
  under autocast as an encoder's would; the MMD must come out float32 (its dtype is shown);
- 50 training steps of ``solver=compression/encodec_mmd_32khz`` on synthetic audio with the MMD on: every
  logged loss finite (a non-finite step stops with `NonFiniteLossError`);
- the forward of the LM solver (``solver=musicgen/mmd``, description conditioner swapped for the look-up
  table: T5 needs a download) with ``transformer_lm.memory_efficient=true`` on xFormers' attention, over the
  tokenizer the 50 steps trained.

``--dry`` runs the same code on the CPU at a tiny size in about a minute (the debug codec and LM, 3 steps), marking
what needs CUDA as skipped; `tests/test_benchmarks.py` runs it.

Usage::

    uv run python benchmarks/gpu_check.py --dry   # CPU, seconds
    uv run python benchmarks/gpu_check.py         # one GPU, at most 8 minutes
"""
import argparse
import sys
import tempfile
import time
import traceback
import typing as tp
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mmd_step  # noqa: E402  (benchmarks/mmd_step.py)

Row = tp.Tuple[str, str, str, str]  # part, setting, status, result


def _failed(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"failed: {type(exc).__name__}: {lines[0][:160] if lines else ''}"


def _mib(num_bytes: tp.Optional[int]) -> str:
    return 'n/a' if num_bytes is None else f"{num_bytes / 2 ** 20:.0f} MiB"


def machine_row(device: str) -> Row:
    """GPU name, torch / CUDA / xFormers versions."""
    import xformers
    versions = f"torch {torch.__version__}, CUDA {torch.version.cuda}, xFormers {xformers.__version__}"
    if device != 'cuda':
        return 'machine', 'cpu', 'skipped (no CUDA)', versions
    return 'machine', torch.cuda.get_device_name(), 'ok', versions


def mmd_step_rows(solver: str, batch_size: int, num_batches: int, device: str) -> tp.List[Row]:
    """`mmd_step.measure_steps` (regular, macro_batch with checkpointing on/off, bank)."""
    args = argparse.Namespace(solver=solver, batch_size=batch_size, num_batches=num_batches, device=device,
                              repeats=1 if device == 'cpu' else 3)
    results, _ = mmd_step.measure_steps(args)
    rows = []
    for name, (seconds, _, peak) in results.items():
        amortised = mmd_step.overhead(name, seconds, results, num_batches)
        mode = 'bank' if name.startswith('bank') else 'macro_batch' if name.startswith('MMD') else ''
        rows.append((f"mmd_step {name}", f"{mode + ', ' if mode else ''}batch {batch_size} x {num_batches}", 'ok',
                     f"{seconds:.3f} s, peak {_mib(peak)}" + (f", amortised {amortised}" if amortised else '')))
    return rows


def mmd_autocast_row(samples: int, dtype: tp.Optional[torch.dtype], device: str) -> Row:
    """MMD forward + backward over ``samples`` samples (codes [samples / T, 4, 128, T] of a linear layer run under
    autocast to ``dtype``, None: float32, parallel alignment); ok when the MMD is float32 and finite."""
    from audiocraft_mmd.losses import MMDLoss
    name = 'float32' if dtype is None else f"{str(dtype).split('.')[-1]} autocast"
    frames = 47 if samples % 47 == 0 else 5
    generator = torch.Generator().manual_seed(0)
    latent = torch.randn(samples // frames, 4, frames, 128, generator=generator).to(device)
    layer = torch.nn.Linear(128, 128).to(device)
    if device == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with torch.autocast(device_type=device, dtype=dtype or torch.float32, enabled=dtype is not None):
        codes = layer(latent).permute(0, 1, 3, 2)  # [B, K, D, T], in the autocast dtype as an encoder's output
        loss = MMDLoss(alignment='parallel')(codes, torch.Generator().manual_seed(0))
    loss.backward()
    if device == 'cuda':
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() if device == 'cuda' else None
    problem = None if loss.dtype == torch.float32 else f"the MMD is {loss.dtype}, not float32"
    if problem is None and not (torch.isfinite(loss) and torch.isfinite(layer.weight.grad).all()):
        problem = "non-finite MMD or gradient"
    return (f"MMD fwd+bwd {samples} samples", f"{name}, codes {codes.dtype}", 'ok' if problem is None else
            f"failed: {problem}", f"{seconds:.3f} s, peak {_mib(peak)}, MMD {float(loss):.3g} ({loss.dtype})")


def train_rows(solver_name: str, lm_solver: str, batch_size: int, steps: int, num_batches: int, device: str,
               data: Path, lm_overrides: tp.Sequence[str]) -> tp.List[Row]:
    """``steps`` training steps of ``solver_name`` with the MMD on (every logged value finite), then the forward of
    ``lm_solver`` (memory-efficient attention) over the codec it trained."""
    rows: tp.List[Row] = []
    try:
        start = time.perf_counter()
        solver = mmd_step.build_solver(solver_name, batch_size, num_batches, device, data / 'codec', updates=steps)
        metrics = solver.run_stage('train', solver.train)
        bad = {k: v for k, v in metrics.items() if isinstance(v, float) and not torch.isfinite(torch.tensor(v))}
        rows.append((f"{steps} steps {solver_name}", f"batch {batch_size}, mmd.weight {solver.mmd_cfg.weight:g}, "
                     f"mmd.num_batches {num_batches}", 'ok' if not bad and 'mmd' in metrics else
                     f"failed: {'non-finite ' + ', '.join(bad) if bad else 'no MMD step ran'}",
                     f"{time.perf_counter() - start:.1f} s, g_loss {metrics.get('g_loss', float('nan')):.3g}, "
                     f"mmd {metrics.get('mmd', float('nan')):.3g}"))
        solver.save_checkpoints()
        checkpoint = solver.checkpoint_path()
    except Exception as exc:  # the row says what failed; the LM row needs the codec
        return [(f"{steps} steps {solver_name}", f"batch {batch_size}", _failed(exc), ''),
                (f"LM forward {lm_solver}", '', 'skipped (no codec: the training row failed)', '')]
    rows.append(lm_forward_row(lm_solver, checkpoint, device, data / 'lm', lm_overrides))
    return rows


def lm_forward_row(lm_solver: str, tokenizer: Path, device: str, data: Path, overrides: tp.Sequence[str]) -> Row:
    """One valid-stage step (forward, cross-entropy) of ``lm_solver`` over ``tokenizer`` with memory-efficient
    attention: on xFormers with CUDA, on torch's scaled-dot-product attention on the CPU."""
    from audiocraft.modules.transformer import set_efficient_attention_backend
    from audiocraft_mmd import train
    from audiocraft_mmd.data import write_synthetic_dataset
    backend = 'xformers' if device == 'cuda' else 'torch'
    setting = f"memory_efficient, {backend} attention"
    try:
        set_efficient_attention_backend(backend)
        sample_rate = train.main.get_xp([f'solver={lm_solver}']).cfg.sample_rate
        splits = write_synthetic_dataset(data, {'train': 2, 'valid': 2}, duration=3.0, sample_rate=sample_rate)
        argv = [f'solver={lm_solver}', f'compression_model_checkpoint={tokenizer}', f'device={device}',
                f'datasource.train={splits["train"]}', f'datasource.valid={splits["valid"]}',
                'datasource.evaluate=null', 'datasource.generate=null', 'transformer_lm.memory_efficient=true',
                'dataset.batch_size=2', 'dataset.num_workers=0', 'dataset.segment_duration=2',
                'dataset.valid.num_samples=2', *overrides]
        xp = train.main.get_xp(argv)
        with xp.enter():
            solver = train.get_solver(xp.cfg)
        batch = next(iter(solver.dataloaders['valid']))
        start = time.perf_counter()
        metrics = solver.run_stage('valid', lambda: solver.run_step(0, batch, {}))
        ce = float(metrics['ce'])
        status = 'ok' if torch.isfinite(torch.tensor(ce)) else 'failed: non-finite cross-entropy'
        note = '' if device == 'cuda' else '; xFormers: skipped (no CUDA)'
        return (f"LM forward {lm_solver}", setting, status,
                f"{time.perf_counter() - start:.2f} s, ce {ce:.3g}{note}")
    except Exception as exc:
        return f"LM forward {lm_solver}", setting, _failed(exc), ''
    finally:
        set_efficient_attention_backend('torch')


def run(dry: bool) -> tp.List[Row]:
    """Every row of the check (``dry``: CPU, tiny sizes)."""
    device = 'cpu' if dry or not torch.cuda.is_available() else 'cuda'
    codec = 'compression/encodec_mmd_debug' if dry else 'compression/encodec_mmd_32khz'
    rows: tp.List[Row] = []

    def guarded(part: str, fn: tp.Callable[[], tp.Union[Row, tp.List[Row]]]) -> None:
        try:
            result = fn()
            rows.extend(result if isinstance(result, list) else [result])
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            rows.append((part, '', _failed(exc), ''))

    guarded('machine', lambda: machine_row(device))
    guarded('mmd_step', lambda: mmd_step_rows(codec, 2 if dry else 64, 2 if dry else 32, device))
    for samples in ((80, 470) if dry else (1280, 12032)):
        for dtype in (None, torch.bfloat16, torch.float16):
            if dtype is torch.float16 and device == 'cpu':
                rows.append((f"MMD fwd+bwd {samples} samples", 'float16 autocast', 'skipped (no CUDA)', ''))
                continue
            guarded(f"MMD fwd+bwd {samples} samples", lambda s=samples, d=dtype: mmd_autocast_row(s, d, device))
    lm_overrides = [] if dry else ['conditioners.description.model=lut', '+conditioners.description.lut.n_bins=512',
                                   '+conditioners.description.lut.dim=32',
                                   '+conditioners.description.lut.tokenizer=noop', 'deadlock.use=false']
    with tempfile.TemporaryDirectory() as tmp:
        guarded('training', lambda: train_rows(codec, 'musicgen/mmd_debug' if dry else 'musicgen/mmd',
                                               2 if dry else 16, 3 if dry else 50, 2 if dry else 4, device, Path(tmp),
                                               lm_overrides))
    return rows


def format_table(rows: tp.Sequence[Row]) -> str:
    """``rows`` as one Markdown table."""
    lines = ['| part | setting | status | result |', '|---|---|---|---|']
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return '\n'.join(lines)


def main() -> None:
    import logging
    import warnings
    from audiocraft_mmd.environment import silence_dependency_notices
    silence_dependency_notices()
    logging.getLogger('audiocraft.environment').setLevel(logging.ERROR)
    warnings.filterwarnings('ignore', message='MMD kernel .* sees no signal')  # random codecs on noise
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dry', action='store_true', help="CPU, tiny sizes, in seconds (what needs CUDA: skipped)")
    args = parser.parse_args()
    start = time.perf_counter()
    rows = run(args.dry)
    print(format_table(rows))
    print(f"{sum(r[2] == 'ok' for r in rows)} ok, {sum(r[2].startswith('failed') for r in rows)} failed, "
          f"{sum(r[2].startswith('skipped') for r in rows)} skipped in {time.perf_counter() - start:.0f} s")


if __name__ == '__main__':
    main()
