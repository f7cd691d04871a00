"""`audiocraft-mmd dependence` and `audiocraft-mmd report` end to end, on debug codecs trained in the tests."""
import json
import math
import os
import subprocess

import pytest

from audiocraft.utils.export import export_encodec

from conftest import DORA_DIR, REPO, VENV_BIN


def cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, AUDIOCRAFT_DORA_DIR=str(DORA_DIR))
    return subprocess.run([str(VENV_BIN / 'audiocraft-mmd'), *args], capture_output=True, text=True, timeout=600,
                          env=env, cwd=REPO)


def test_dependence_of_a_trained_xp(trained_xp, dataset, tmp_path):
    folder, _ = trained_xp
    out, plot = tmp_path / 'report.json', tmp_path / 'fig.png'
    proc = cli('dependence', '--model', f'//sig/{folder.name}', '--manifest', str(dataset['evaluate']),
               '--segments', '4', '--segment-duration', '1', '--out', str(out), '--plot', str(plot))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '[delay alignment]' in proc.stdout and '[parallel alignment]' in proc.stdout
    assert 'encoding' in proc.stderr  # progress bar
    report = json.loads(out.read_text())
    assert report['num_clips'] == 4 and report['dependence_samples'] == {'parallel': 200, 'delay': 188}
    assert {c['name'] for c in report['checks']} == {'decoder uses the codes', 'reconstructs', 'uses its codebooks'}
    parallel, delay = report['alignments']['parallel'], report['alignments']['delay']
    assert parallel['num_samples'] == 4 * 50 and delay['num_samples'] == 4 * (50 - 3)
    for result in (parallel, delay):
        assert len(result['pairwise_mi_bits']) == 4 and len(result['mi_vs_rest_bits']) == 4
        for key in ('tc_percent', 'raw_tc_percent', 'null_tc_percent', 'total_correlation_bits'):
            assert isinstance(result[key], float)
        assert result['raw_tc_percent'] > result['tc_percent']  # the plug-in bias is removed
    assert plot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_dependence_of_an_exported_codec(trained_xp, dataset, tmp_path):
    folder, _ = trained_xp
    exported = export_encodec(folder / 'checkpoint.th', tmp_path / 'encodec_mmd.th')
    proc = cli('dependence', '--model', str(exported), '--manifest', str(dataset['evaluate']), '--alignment',
               'delay', '--segments', '2', '--segment-duration', '1', '--correction', 'none')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '[delay alignment]' in proc.stdout and '[parallel alignment]' not in proc.stdout


def test_dependence_within_the_steps_of_any_lm_pattern(trained_xp, dataset, tmp_path):
    """--alignment pattern: the dependence of the codes a coarse_first LM predicts in one step (z1, z2, z3)."""
    folder, _ = trained_xp
    out, plot = tmp_path / 'pattern.json', tmp_path / 'pattern.png'
    proc = cli('dependence', '--model', f'//sig/{folder.name}', '--manifest', str(dataset['evaluate']),
               '--alignment', 'pattern', '--pattern', 'coarse_first', '--pattern-args', '{"delays": [0, 1, 2]}',
               '--segments', '2', '--segment-duration', '1', '--out', str(out), '--plot', str(plot))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '[pattern alignment]' in proc.stdout and 'Group z1[t+2] z2[t+1] z3[t]' in proc.stdout
    [group] = json.loads(out.read_text())['alignments']['pattern']['groups']
    assert group['codebooks'] == [1, 2, 3] and group['offsets'] == [2, 1, 0]
    assert group['result']['num_samples'] == 2 * (50 - 2)
    assert plot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


@pytest.mark.parametrize('args,message', [
    (['--alignment', 'pattern'], '--alignment pattern needs --pattern NAME'),
    (['--alignment', 'delay', '--pattern', 'coarse_first'], '--pattern coarse_first is read with --alignment pattern'),
    (['--alignment', 'pattern', '--pattern', 'unroll', '--pattern-args', '{delays'], 'is not JSON'),
    (['--pattern-args', '{}'], '--pattern-args needs --pattern NAME'),
])
def test_dependence_pattern_options_are_checked(trained_xp, dataset, capsys, args, message):
    from audiocraft_mmd.cli import main
    folder, _ = trained_xp
    assert main(['dependence', '--model', f'//sig/{folder.name}', '--manifest', str(dataset['evaluate']), *args]) == 2
    assert message in capsys.readouterr().err


def test_dependence_bad_inputs_are_named(dataset, tmp_path):
    missing = cli('dependence', '--model', str(tmp_path / 'nope.th'), '--manifest', str(dataset['evaluate']))
    assert missing.returncode == 2 and 'No compression model at' in missing.stderr
    corrupt = tmp_path / 'corrupt.th'
    corrupt.write_bytes(b'not a checkpoint')
    bad = cli('dependence', '--model', str(corrupt), '--manifest', str(dataset['evaluate']))
    assert bad.returncode == 2 and 'is not a readable AudioCraft checkpoint' in bad.stderr
    assert 'Traceback' not in missing.stderr + bad.stderr


def test_report_is_fig2_of_the_xps(trained_xp, baseline_xp, tmp_path):
    folder, _ = trained_xp
    plot, out = tmp_path / 'fig2.png', tmp_path / 'rows.json'
    proc = cli('report', folder.name, f'//sig/{baseline_xp.name}', '--plot', str(plot), '--out', str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {row['weight']: row for row in json.loads(out.read_text())}
    assert set(rows) == {0.0, 100.0}
    for row in rows.values():
        assert row['mmd'] is not None and row['msspec'] is not None
        assert row['tc_percent_delay'] is not None and row['tc_percent_parallel'] is not None
    assert plot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert 'I% delay' in proc.stdout


def test_kernel_magnitude_benchmark_gives_each_kernel_a_weight(trained_xp, dataset, tmp_path):
    """`benchmarks/kernel_magnitudes.py` (the Table 3 weights of the grid), on a tiny codec."""
    import sys
    folder, _ = trained_xp
    out = tmp_path / 'kernels.json'
    proc = subprocess.run([sys.executable, str(REPO / 'benchmarks' / 'kernel_magnitudes.py'), '--model',
                           str(folder / 'checkpoint.th'), '--manifest', str(dataset['train']), '--clips', '8',
                           '--draws', '2', '--out', str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '8 clips of 1 s x 5 delay-aligned frames = 40 samples, 2 draws' in proc.stdout
    rows = json.loads(out.read_text())['kernels']
    assert set(rows) == {'multiscale_gaussian', 'squared_inverse', 'linear', 'quadratic'}
    assert rows['multiscale_gaussian']['weight'] == pytest.approx(1e3)
    for row in rows.values():
        assert row['magnitude'] > 0 and math.isfinite(row['weight']) and row['low'] <= row['mean'] <= row['high']
        assert row['weight'] * row['magnitude'] == pytest.approx(1e3 * rows['multiscale_gaussian']['magnitude'])


def test_fig2_lines_never_mix_sample_counts(tmp_path):
    """Seeds of one setting are averaged; the paper's 5 frames per clip and all frames stay two lines."""
    from audiocraft_mmd.report import XPRow, group_rows, plot_rows

    def row(seed, frames, weight=1e3):
        return XPRow(sig=f'{seed}{frames}', name='', weight=weight, alignment='delay', kernel='multiscale_gaussian',
                     epochs=1, mmd=1e-3 * (seed + 1), tc_percent_delay=1., tc_percent_parallel=2., msspec=0.3,
                     seed=seed, frames_per_item=frames)
    rows = [row(0, 5), row(1, 5), row(0, 5, weight=0), row(0, None)]
    groups = group_rows(rows)
    assert {key: [(r.weight, r.seed) for r in members] for key, members in groups.items()} == {
        ('delay', 'multiscale_gaussian', 5): [(1e3, 0), (1e3, 1), (0, 0)],
        ('delay', 'multiscale_gaussian', None): [(1e3, 0)]}
    assert plot_rows(rows, tmp_path / 'fig2.png').read_bytes()[:4] == b'\x89PNG'


def test_report_of_the_paper_grid_lists_its_xps():
    proc = cli('report', 'mmd.encodec_32khz')
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line[:8].strip() and line[0] in '0123456789abcdef']
    assert len(lines) == 10  # 5 weights, all frames per clip, parallel, 3 kernels
    unknown = cli('report', 'mmd.nope')
    assert unknown.returncode == 2 and "No grid 'mmd.nope'" in unknown.stderr
