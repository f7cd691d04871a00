"""The loss's purpose on planted dependence, the shrinkage watch, and the `planted` command."""
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from audiocraft_mmd.losses import MMDLoss, ShrinkageWatch
from audiocraft_mmd.planted.codec import PlantedSettings, measure_planted, train_planted
from audiocraft_mmd.planted.data import RotatedClusters

# The command's recipe, measured on fewer held-out points.
QUICK = PlantedSettings(test_points=50_000, mmd_points=1024)


def test_planted_data_has_its_variance_and_is_reproducible():
    data = RotatedClusters()
    points = data.sample(200_000, torch.Generator().manual_seed(0))
    assert torch.equal(points, data.sample(200_000, torch.Generator().manual_seed(0)))
    total = float(points.var(dim=0).sum())
    assert math.isclose(total, data.variance, rel_tol=0.02)


def test_the_mmd_lowers_a_planted_dependence():
    """Optimising the MMD (standardized samples) lowers the codebook dependence of a codec whose codes are
    dependent by construction, at every seed, by a margin, while the codec still transmits its points."""
    drops = []
    for seed in range(3):
        base = measure_planted(train_planted(0., 'standardized', seed, QUICK).codec, QUICK)
        mmd = measure_planted(train_planted(100., 'standardized', seed, QUICK).codec, QUICK)
        assert base['tc_percent'] > 5, base  # the planted dependence is there
        assert mmd['relative_mse'] < 0.25 and mmd['shuffled_relative_mse'] > 2 * mmd['relative_mse'], mmd
        drops.append((base['tc_percent'] - mmd['tc_percent']) / base['tc_percent'])
    assert min(drops) > 0.25, drops


@pytest.mark.parametrize('mode, quantizer', [('macro_batch', 'rvq'), ('bank', 'rvq'), ('macro_batch', 'pvq')])
def test_training_is_bit_identical_for_a_seed(mode, quantizer):
    settings = PlantedSettings(steps=40, test_points=2000, mmd_points=256, num_batches=4, mode=mode,
                               quantizer=quantizer)
    runs = [train_planted(100., 'fixed', 3, settings) for _ in range(2)]
    assert runs[0].mmd_trace == runs[1].mmd_trace
    # macro-batches: one MMD per 4 steps; bank: one per step from the second (the first initialises the codebooks)
    assert len(runs[0].mmd_trace) == (10 if mode == 'macro_batch' else 39)
    for a, b in zip(runs[0].codec.state_dict().values(), runs[1].codec.state_dict().values()):
        assert torch.equal(a, b)


def test_scale_free_value_is_the_standardized_mmd_of_the_same_draws():
    codes = torch.randn(6, 3, 4, 10, generator=torch.Generator().manual_seed(0))
    fixed = MMDLoss(alignment='delay', scale='fixed', collapse_check_every=1)
    value = fixed(codes, generator=torch.Generator().manual_seed(7))
    standardized = MMDLoss(alignment='delay', scale='standardized', collapse_check_every=0)
    expected = standardized(codes, generator=torch.Generator().manual_seed(7))
    assert fixed.last_scale_free == pytest.approx(float(expected), rel=1e-5)
    assert float(value) != pytest.approx(float(expected), rel=1e-3)
    # off the check cadence nothing is computed, and the generator draws the same with or without it
    sparse = MMDLoss(alignment='delay', scale='fixed', collapse_check_every=5)
    generators = [torch.Generator().manual_seed(7) for _ in range(2)]
    sparse(codes, generator=generators[0])
    MMDLoss(alignment='delay', scale='fixed', collapse_check_every=0)(codes, generator=generators[1])
    assert torch.equal(generators[0].get_state(), generators[1].get_state())
    sparse(codes)
    assert sparse.last_scale_free is None


def test_shrinkage_watch_warns_once_when_only_the_trained_mmd_falls():
    watch = ShrinkageWatch('fixed', window=3)
    said = [watch.update(1e-2 / 4 ** i, 2e-2, 1. / 2 ** i) for i in range(8)]
    warnings = [s for s in said if s is not None]
    assert len(warnings) == 1
    assert 'mmd.scale=fixed' in warnings[0] and 'scale-free MMD did not' in warnings[0]
    assert 'mmd.scale=standardized' in warnings[0] and 'latent rms 0.583 -> ' in warnings[0]


@pytest.mark.parametrize('scale,trained,scale_free', [
    ('fixed', [1e-2 / 4 ** i for i in range(8)], [2e-2 / 4 ** i for i in range(8)]),  # both fall: independence
    ('fixed', [-1e-4] * 8, [1e-4] * 8),  # at the noise floor from the start
    ('fixed', [1e-2 / 1.2 ** i for i in range(8)], [2e-2] * 8),  # fell, but less than tenfold
    ('standardized', [1e-2 / 4 ** i for i in range(8)], [1e-2 / 4 ** i for i in range(8)]),
])
def test_shrinkage_watch_stays_silent(scale, trained, scale_free):
    watch = ShrinkageWatch(scale, window=3)
    assert all(watch.update(t, s, 1.) is None for t, s in zip(trained, scale_free))


def test_planted_command_end_to_end(tmp_path):
    """The command trains every (cell, seed), prints the table and a verdict per cell, writes the JSON and the
    figure, and a second run reuses every run."""
    argv = [sys.executable, '-m', 'audiocraft_mmd.cli', 'planted', '--steps', '60', '--seeds', '2', '--weights',
            '100', '--scales', 'standardized,fixed', '--out', str(tmp_path), '--jobs', '2']
    first = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert '3 codecs x 2 seeds (0 reused)' in first.stdout
    assert 'standardized, weight 100: ' in first.stdout and 'fixed, weight 100: ' in first.stdout
    assert 'Planted dependence (RVQ, 2 codebooks of 8, 2 seeds, I over 100,000 held-out points)' in first.stdout
    report = json.loads((tmp_path / 'planted-rvq.json').read_text())
    assert [c['label'] for c in report['cells']] == ['baseline', 'standardized, weight 100', 'fixed, weight 100']
    assert all(len(c['runs']) == 2 for c in report['cells'])
    assert report['cells'][1]['paired_change']['tc_percent']['n'] == 2
    assert report['verdict'] in first.stdout
    assert (tmp_path / 'planted-rvq.png').stat().st_size > 10_000
    second = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0 and '(6 reused)' in second.stdout
    assert json.loads((tmp_path / 'planted-rvq.json').read_text())['cells'] == report['cells']


def test_planted_command_refuses_bad_input_before_training(tmp_path):
    for args, message in ((['--seeds', '1'], '--seeds 1: the interval over seeds needs at least 2'),
                          (['--scales', 'standardised'], '--scales standardised: did you mean standardized?'),
                          (['--weights', '0'], '--weights 0: give weights > 0'),
                          (['--jobs', '0'], '--jobs 0: run at least 1 at a time')):
        proc = subprocess.run([sys.executable, '-m', 'audiocraft_mmd.cli', 'planted', '--out', str(tmp_path / 'x'),
                               *args], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert not (tmp_path / 'x').exists()


def _children(pid: int) -> list:
    """The pids of the processes whose parent is ``pid`` (read from /proc)."""
    found = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            if int(stat.read_text().rsplit(')', 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def test_a_stopped_planted_run_stops_its_workers(tmp_path):
    """SIGTERM while the runs train: the command exits (143) and its worker processes with it; a finished run
    stays stored for the next call."""
    proc = subprocess.Popen([sys.executable, '-m', 'audiocraft_mmd.cli', 'planted', '--steps', '20000', '--seeds',
                             '2', '--weights', '100', '--scales', 'fixed', '--out', str(tmp_path), '--jobs', '2'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline, workers = time.monotonic() + 120, []
    while len(workers) < 2:
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.monotonic() < deadline, 'no worker started in 120 s'
        time.sleep(0.5)
        workers = [pid for pid in _children(proc.pid)
                   if b'spawn_main' in Path(f'/proc/{pid}/cmdline').read_bytes()]
    time.sleep(5)  # inside the runs
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    time.sleep(1)
    assert [pid for pid in workers if Path(f'/proc/{pid}').exists()] == []
    assert not (tmp_path / 'planted-rvq.json').exists()  # no report from half a sweep
