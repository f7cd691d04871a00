"""The documented Dora workflow, end to end: train, log, checkpoint, resume, load with stock audiocraft."""
import os
import shutil
import subprocess
import sys

import torch

from conftest import DEBUG_SOLVER, DORA_DIR, REPO, read_history, run_dora, xp_folder

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


def test_resumed_run_continues_the_schedule(trained_xp):
    """An XP whose folder holds the epoch-1 checkpoint resumes at epoch 2 with the MMD schedule intact."""
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
    assert history[1]['train']['mmd_samples'] == reference[1]['train']['mmd_samples']
    state = torch.load(resumed / 'checkpoint.th', weights_only=False)
    assert state['macro_batch'] == {'completed': 4}


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
