"""`benchmarks/gpu_check.py --dry`: the GPU check's code runs on the CPU, so it cannot rot before a GPU is at hand."""
import subprocess

from conftest import REPO, VENV_BIN


def test_gpu_check_dry_runs_every_row_on_the_cpu():
    """`python benchmarks/gpu_check.py --dry` (documented in docs/GPU_CHECK.md): one table, every row ok but what
    needs CUDA, which says so."""
    proc = subprocess.run([str(VENV_BIN / 'python'), 'benchmarks/gpu_check.py', '--dry'], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[:2] == ['| part | setting | status | result |', '|---|---|---|---|']
    rows = [[cell.strip() for cell in line.strip('|').split('|')] for line in lines[2:-1]]
    status = {(part, setting): state for part, setting, state, _ in rows}
    assert {state for state in status.values()} <= {'ok', 'skipped (no CUDA)'}, proc.stdout + proc.stderr[-3000:]
    assert status[('machine', 'cpu')] == 'skipped (no CUDA)'
    parts = [part for part, *_ in rows]
    assert parts[1:5] == ['mmd_step regular step', 'mmd_step MMD step, checkpointing on',
                          'mmd_step MMD step, checkpointing off', 'mmd_step bank mode, extra per step']
    for samples in (80, 470):
        assert status[(f'MMD fwd+bwd {samples} samples', 'float32, codes torch.float32')] == 'ok'
        assert status[(f'MMD fwd+bwd {samples} samples', 'bfloat16 autocast, codes torch.bfloat16')] == 'ok'
        assert status[(f'MMD fwd+bwd {samples} samples', 'float16 autocast')] == 'skipped (no CUDA)'
    autocast = [result for part, setting, _, result in rows if 'bfloat16 autocast' in setting]
    assert autocast and all(result.endswith('(torch.float32)') for result in autocast)  # the MMD stays float32
    assert status[('3 steps compression/encodec_mmd_debug', 'batch 2, mmd.weight 100, mmd.num_batches 2')] == 'ok'
    lm, = [row for row in rows if row[0] == 'LM forward musicgen/mmd_debug']
    assert lm[1:3] == ['memory_efficient, torch attention', 'ok'] and lm[3].endswith('xFormers: skipped (no CUDA)')
    assert lines[-1].startswith(f"{len(rows) - 3} ok, 0 failed, 3 skipped in ")
