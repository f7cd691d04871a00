"""One measurement path: the solver's evaluate stage, the demo and `audiocraft-mmd dependence` give the same
figures for the same checkpoint and data; the working-codec checks catch a decoder that ignores its codes."""
import json
import math
import os
import subprocess

import pytest
import torch

from conftest import DEBUG_SOLVER, DORA_DIR, REPO, VENV_BIN, read_history, run_dora, xp_folder

FIGURES = ('tc_percent_delay', 'tc_percent_parallel', 'mmd', 'mmd_scale_free', 'latent_rms', 'msspec', 'sisnr_db',
           'sisnr_shuffled_db', 'code_ablation_gap_db', 'codebook_entropy_min_bits', 'codebook_entropy_mean_bits')


@pytest.fixture(scope='module')
def one_second_clips(tmp_path_factory):
    """An evaluate manifest of 1 s files: the evaluate loader's clips and the CLI's 1 s segments are the same audio."""
    from audiocraft_mmd.data import write_synthetic_dataset
    root = tmp_path_factory.mktemp('clips')
    return write_synthetic_dataset(root, {'evaluate': 12}, duration=1.0, sample_rate=16000, seed=3)['evaluate']


@pytest.fixture(scope='module')
def evaluated_xp(data_overrides, one_second_clips):
    """A short XP whose evaluate stage (last epoch) read each 1 s file whole, in manifest order. Returns its folder."""
    overrides = [o for o in data_overrides if not o.startswith('datasource.evaluate=')]
    argv = [DEBUG_SOLVER, *overrides, f'datasource.evaluate={one_second_clips}', 'optim.epochs=1',
            'optim.updates_per_epoch=4', 'mmd.num_batches=2', '+dataset.evaluate.segment_duration=null',
            'dataset.evaluate.num_samples=12']
    run_dora('run', *argv)
    return xp_folder(argv)


def test_solver_demo_and_cli_measure_the_same(evaluated_xp, one_second_clips, tmp_path):
    from audiocraft_mmd.experiments.measure import measure
    seed = 2036  # the solver seeds its measurement draws with cfg.seed
    solver = read_history(evaluated_xp)[-1]['evaluate']
    out = tmp_path / 'cli.json'
    env = dict(os.environ, AUDIOCRAFT_DORA_DIR=str(DORA_DIR))
    proc = subprocess.run([str(VENV_BIN / 'audiocraft-mmd'), 'dependence', '--model', f'//sig/{evaluated_xp.name}',
                           '--manifest', str(one_second_clips), '--segment-duration', '1', '--macro-clips', '16',
                           '--seed', str(seed), '--out', str(out)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '[codec]' in proc.stdout and 'code ablation gap' in proc.stdout
    cli = json.loads(out.read_text())
    demo = measure(evaluated_xp / 'checkpoint.th', one_second_clips, 1., seed=seed)
    assert cli['num_clips'] == demo['num_clips'] == 12
    assert cli['mmd_samples'] == demo['mmd_samples'] == solver['mmd_samples'] == 12 * (50 - 3)
    for key in FIGURES:
        assert math.isfinite(solver[key]), key
        # dB figures are differences of two SI-SNRs (the code ablation gap of this codec is ~0 dB): the solver's
        # thread count changes their float rounding by ~1e-5 dB
        tolerance = 1e-4 if key.endswith('_db') else 1e-6
        assert cli[key] == pytest.approx(solver[key], rel=1e-4, abs=tolerance), key
        assert demo[key] == pytest.approx(cli[key], rel=1e-6, abs=1e-9), key


def test_a_decoder_that_ignores_its_codes_fails_the_checks(trained_xp, dataset):
    """16 steps from scratch: the tiny codec's decoder does not use the codes yet, and the checks say so."""
    from audiocraft_mmd.metrics.codec import format_measurement, measure_codec, working_codec_checks
    from audiocraft_mmd.models.compression import load_codec
    folder, _ = trained_xp
    model, cfg = load_codec(folder / 'checkpoint.th')
    measured = measure_codec(model, dataset['evaluate'], cfg, segment_duration=1., progress=False)
    checks = {check.name: check for check in working_codec_checks(measured)}
    assert measured.code_ablation_gap_db < 10
    assert not checks['decoder uses the codes'].passed and not checks['reconstructs'].passed
    assert f"{measured.code_ablation_gap_db:.1f} dB" in checks['decoder uses the codes'].detail
    assert '[FAIL] decoder uses the codes' in format_measurement(measured)


def test_the_meter_decodes_with_the_renormalisation_scale(trained_xp, dataset):
    """A codec that renormalises its input is measured on audio rescaled back by the encoder's scale."""
    from audiocraft_mmd.metrics.codec import CodecMeter
    from audiocraft_mmd.models.compression import load_codec
    folder, _ = trained_xp
    model, cfg = load_codec(folder / 'checkpoint.th')
    model.renormalize = True
    x = 0.05 * torch.randn(2, 1, 16000, generator=torch.Generator().manual_seed(0))
    y = CodecMeter(model, cfg).update(x)
    with torch.no_grad():
        codes, scale = model.encode(x)
        expected = model.decode(codes, scale)
    assert scale is not None
    torch.testing.assert_close(y, expected[..., :x.shape[-1]])
