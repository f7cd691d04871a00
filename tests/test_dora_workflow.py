"""The documented Dora workflow, end to end: train, log, checkpoint, resume, load with stock audiocraft."""
import os
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import DEBUG_SOLVER, DORA_DIR, REPO, read_history, run_dora, xp_folder


@pytest.mark.smoke
def test_run_trains_logs_mmd_and_checkpoints(trained_xp):
    folder, _ = trained_xp
    history = read_history(folder)
    assert len(history) == 2
    for epoch in history:
        assert epoch['train']['mmd'] != 0 and epoch['train']['mmd_time'] > 0 and epoch['train']['latent_rms'] > 0
        assert epoch['train']['mmd_samples'] == 32 * (50 - 3)  # 4 batches x 8 clips x (T - (K-1)) frames
        assert 'msspec' in epoch['valid']
    evaluate = history[-1]['evaluate']  # the evaluate stage runs on the last epoch
    assert evaluate['mmd'] != 0 and evaluate['mmd_scale_free'] != 0 and evaluate['latent_rms'] > 0
    for key in ('msspec', 'sisnr_db', 'code_ablation_gap_db', 'codebook_entropy_min_bits'):
        assert key in evaluate
    assert -5 < evaluate['tc_percent_delay'] < 100 and -5 < evaluate['tc_percent_parallel'] < 100
    assert (folder / 'checkpoint.th').is_file() and (folder / 'checkpoint_1.th').is_file()
    state = torch.load(folder / 'checkpoint.th', weights_only=False)
    assert state['macro_batch'] == {'completed': 4}  # 2 epochs x 8 updates / 4 batches
    assert 'mmd' in state['xp.cfg'] and state['xp.cfg']['solver'] == 'compression_mmd'


TIMINGS = ('duration', 'mmd_time')


def _without_timings(stages: dict) -> dict:
    return {stage: {k: v for k, v in metrics.items() if k not in TIMINGS} for stage, metrics in stages.items()}


def test_resumed_run_continues_exactly(trained_xp):
    """An XP whose folder holds the epoch-1 checkpoint (what a killed or preempted job leaves) resumes at
    epoch 2 with the MMD schedule intact and ends bit-identical to the uninterrupted run: the checkpoint
    carries every generator state that decides the data and the model's draws."""
    folder, argv = trained_xp
    resumed_argv = [*argv, 'label=resumed']
    resumed = xp_folder(resumed_argv)
    resumed.mkdir(parents=True, exist_ok=True)
    shutil.copy(folder / 'checkpoint_1.th', resumed / 'checkpoint.th')
    proc = run_dora('run', *resumed_argv)
    assert 'Loading existing checkpoint' in proc.stderr + proc.stdout
    history, reference = read_history(resumed), read_history(folder)
    assert len(history) == 2
    assert history[0] == reference[0]  # epoch 1 comes from the checkpoint, not re-trained
    assert _without_timings(history[1]) == _without_timings(reference[1])
    state = torch.load(resumed / 'checkpoint.th', weights_only=False)
    assert state['macro_batch'] == {'completed': 4}
    uninterrupted = torch.load(folder / 'checkpoint.th', weights_only=False)
    for name, weight in uninterrupted['model'].items():
        assert torch.equal(state['model'][name], weight), name
    assert len(state['rng_states']['ranks']) == 1 and torch.equal(
        state['rng_states']['ranks'][0]['torch'], uninterrupted['rng_states']['ranks'][0]['torch'])


def test_run_killed_in_its_second_epoch_ends_as_the_uninterrupted_run(trained_xp):
    """kill -9 during epoch 2, then the same command: it resumes from the epoch-1 checkpoint and ends with
    the uninterrupted run's weights and metrics, bit for bit."""
    import signal
    folder, argv = trained_xp
    killed_argv = [*argv, 'label=killed']
    killed = xp_folder(killed_argv)
    env = dict(os.environ, AUDIOCRAFT_DORA_DIR=str(DORA_DIR), PYTHONUNBUFFERED='1')
    proc = subprocess.Popen([sys.executable, '-m', 'dora', '-P', 'audiocraft_mmd', 'run', *killed_argv], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # the epoch-1 checkpoint is written, epoch 2 is training
        if 'Train | Epoch 2 | 1/8' in line:
            break
    else:
        raise AssertionError(f"the run ended before epoch 2 (code {proc.wait()})")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode != 0 and len(read_history(killed)) == 1
    run_dora('run', *killed_argv)
    history, reference = read_history(killed), read_history(folder)
    assert [_without_timings(epoch) for epoch in history] == [_without_timings(epoch) for epoch in reference]
    resumed = torch.load(killed / 'checkpoint.th', weights_only=False)['model']
    uninterrupted = torch.load(folder / 'checkpoint.th', weights_only=False)['model']
    assert all(torch.equal(resumed[name], weight) for name, weight in uninterrupted.items())


@pytest.mark.smoke
def test_checkpoint_loads_with_stock_audiocraft(trained_xp):
    """`CompressionSolver.model_from_checkpoint` by path and by //sig/, torch's safe loader included."""
    folder, _ = trained_xp
    code = (
        "import torch\n"
        "from audiocraft.solvers.compression import CompressionSolver\n"
        f"model = CompressionSolver.model_from_checkpoint('//sig/{folder.name}')\n"
        f"same = CompressionSolver.model_from_checkpoint('{folder / 'checkpoint.th'}')\n"
        "wav = 0.1 * torch.randn(1, 1, 16000)\n"
        "codes, _ = model.encode(wav)\n"
        "print(type(model).__name__, tuple(codes.shape), torch.equal(codes, same.encode(wav)[0]))\n")
    env = {key: value for key, value in os.environ.items() if key != 'USER'}
    env['AUDIOCRAFT_DORA_DIR'] = str(DORA_DIR)
    proc = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=REPO.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == 'EncodecModel (1, 4, 50) True'


@pytest.mark.smoke
def test_grid_dry_run_lists_the_paper_experiments():
    proc = run_dora('grid', 'mmd.encodec_32khz', '--dry_run', '--init')
    out = proc.stdout
    for name in ['mmd.weight=0', 'mmd.weight=10 ', 'mmd.weight=100 ', 'mmd.weight=10000.0', 'mmd.alignment=parallel',
                 'mmd.kernel=squared_inverse', 'mmd.kernel=linear', 'mmd.kernel=quadratic', 'mmd.frames_per_item=']:
        assert name in out, out
    header = next(line for line in out.splitlines() if 'name' in line and 'sig' in line)
    assert 'mmd' in header  # the explorer shows the MMD column


def test_bad_config_stops_with_the_message_not_a_traceback(data_overrides):
    proc = run_dora('run', DEBUG_SOLVER, *data_overrides, 'mmd.alignment=flatten', check=False)
    assert proc.returncode != 0
    assert 'error: mmd.alignment must be one of delay, parallel' in proc.stderr
    assert 'Traceback' not in proc.stderr
