"""docs/RESULTS.md: generated from the committed report JSONs (`audiocraft_mmd.results`), never typed by hand."""
import json
import math

import pytest

from conftest import REPO


def test_committed_results_regenerate_identically():
    from audiocraft_mmd.results import results_markdown
    assert results_markdown(REPO / 'docs' / 'results') == (REPO / 'docs' / 'RESULTS.md').read_text(), \
        "docs/RESULTS.md is stale: run `audiocraft-mmd report --markdown docs/RESULTS.md`"


def _run(seed: int, tc: float, sig: str, latent: float = 3.) -> dict:
    return {'seed': seed, 'sig': sig, 'weight': 0., 'tc_percent_delay': tc, 'tc_percent_parallel': 1. + tc,
            'mmd': -1e-4, 'mmd_scale_free': -2e-4 + 1e-5 * tc, 'msspec': 0.3, 'codebook_entropy_min_bits': 5.8,
            'sisnr_db': 0.3, 'latent_rms': latent, 'num_clips': 34, 'clip_seconds': 5.0,
            'dependence_samples': {'delay': 8398, 'parallel': 8500},
            'checks': [{'name': 'reconstructs', 'passed': True, 'detail': ''}]}


def _report(path, command: str, base: list, mmd: list, weight: float, start: str = 'shipped') -> None:
    settings = {'steps': 200, 'seeds': len(base), 'weight': weight, 'scale': 'standardized', 'sweep': False,
                'num_batches': 1, 'mode': None, 'start_steps': 2000, 'start': start}
    path.write_text(json.dumps({'command': command, 'settings': settings, 'verdict': ['The effect does not show.'],
                                'runs': {'baseline': base, 'EnCodec-MMD': mmd}, 'train_split': None}))


def test_music_section_rows_and_detectable_change(tmp_path):
    from audiocraft_mmd.results import detectable_change, music_cells, results_markdown
    (tmp_path / 'music').mkdir()
    values = [0.40, 0.45, 0.35, 0.42, 0.38]
    base = [_run(seed, tc, f'b{seed}') for seed, tc in enumerate(values)]
    lower = [_run(seed, tc - 0.1 - 0.01 * seed, f'm{seed}', latent=2.) for seed, tc in enumerate(values)]
    same = [_run(seed, tc + (-0.02, 0.03, -0.01, 0.0, 0.01)[seed], f'n{seed}') for seed, tc in enumerate(values)]
    _report(tmp_path / 'music' / 'report-b.json', 'audiocraft-mmd demo --weight 1e4', base, lower, 1e4)
    _report(tmp_path / 'music' / 'report-a.json', 'audiocraft-mmd demo --weight 1e3', base, same, 1e3)
    text = results_markdown(tmp_path)
    assert text == results_markdown(tmp_path)  # deterministic
    rows = [line for line in text.splitlines() if line.startswith('| [report-')]
    assert [row.split(']')[0] for row in rows] == ['| [report-a', '| [report-b']  # by weight
    assert '`audiocraft-mmd demo --weight 1e4`' in rows[1] and '| **-0.120 ± 0.020** |' in rows[1]
    assert '| **-33.3 ± 0.0 %** |' in rows[1]  # latent rms, relative to the baseline's
    assert '| all pass | does not show |' in rows[0] and '| 0.00 ± 0.00 |' in rows[0]
    assert '**' not in rows[0].split('|')[5]  # the 1e3 cell's change in I: its interval includes 0
    detectable = detectable_change(music_cells(tmp_path / 'music'))
    assert detectable.base_df == 4  # the shared baseline counted once
    assert detectable.base_sd == pytest.approx(math.sqrt(sum((v - 0.4) ** 2 for v in values) / 4))
    assert detectable.diff_df == 8
    from scipy import stats
    assert detectable.half_width(5) == pytest.approx(stats.t.ppf(0.975, 4) * detectable.diff_sd / math.sqrt(5))
    assert detectable.at_power(5) > detectable.half_width(5)
    assert '### What the measurement can detect' in text
    # codecs trained from scratch: a cell of their own, whose baselines (other codecs) the detectable figure leaves out
    scratch = [_run(seed, 2 * tc, f's{seed}') for seed, tc in enumerate(values)]
    _report(tmp_path / 'music' / 'report-b-scratch.json', 'audiocraft-mmd demo --weight 1e4 --start scratch', scratch,
            scratch, 1e4, start='scratch')
    cells = music_cells(tmp_path / 'music')
    assert [cell.from_scratch for cell in cells] == [False, False, True]
    assert len({cell.cell_key for cell in cells}) == 3
    text = results_markdown(tmp_path)
    assert 'those named `-scratch` train them from scratch' in text
    assert f'baseline seeds spread by {detectable.base_sd:.3f} points' in text
    empty = results_markdown(tmp_path / 'nothing')
    assert empty.startswith('# Results') and '##' not in empty  # a section without reports is left out


def test_report_markdown_command(tmp_path, capsys):
    from audiocraft_mmd.cli import main
    (tmp_path / 'music').mkdir()
    base = [_run(seed, 0.4 + 0.01 * seed, f'b{seed}') for seed in range(3)]
    _report(tmp_path / 'music' / 'report-x.json', 'audiocraft-mmd demo', base, base, 1e3)
    assert main(['report', '--markdown', str(tmp_path / 'RESULTS.md'), '--results', str(tmp_path)]) == 0
    assert '| [report-x](results/music/report-x.json) EnCodec-MMD |' in (tmp_path / 'RESULTS.md').read_text()
    assert main(['report', '--markdown', str(tmp_path / 'R.md'), '--results', str(tmp_path / 'none')]) == 2
    assert 'is not a folder' in capsys.readouterr().err and not (tmp_path / 'R.md').exists()


def test_outcome_names_the_cells_that_cut_i_and_why_they_fail():
    from audiocraft_mmd.results import MusicCell, outcome_text
    base = [_run(seed, 0.4 + 0.01 * seed, f'b{seed}') for seed in range(3)]
    lower = [{**_run(seed, 0.3 + 0.01 * seed, f'm{seed}'), 'msspec': 0.327} for seed in range(3)]
    lower[1]['checks'] = [{'name': 'reconstructs', 'passed': False, 'detail': 'SI-SNR -1 dB'}]
    failing = "The effect does not show at this scale: ..."
    cells = [MusicCell('report-x', 'c', {'sweep': False, 'weight': 1e4}, 'EnCodec-MMD', base, lower, None, None,
                       failing),
             MusicCell('report-y', 'c', {'sweep': False, 'weight': 1e3}, 'EnCodec-MMD', base, base, None, None,
                       'The effect does '
                       'not show at this scale: the interval ... does not exclude no change. Measured: ...')]
    assert outcome_text(cells) == (
        "2 report(s) of 2 cell(s). The effect shows (the demo's verdict) in: none. `report-x` cuts the delay-aligned "
        "I with an interval excluding 0, but: working-codec checks failed (MMD: reconstructs (seed 1)); MSSpec "
        "+9.0 % (more than 5 %). The other 1 report(s) do not cut it with an interval excluding 0.")


def test_reports_of_one_cell_are_replications_and_the_best_cell_shows_in_each(tmp_path):
    """Reports in subfolders with the same cell settings and start codec are runs of one cell: the best cell is one
    that shows the effect in every report of it, and a cell whose reports disagree is named."""
    from audiocraft_mmd.results import best_cell_text, music_cells
    values = [0.40, 0.45, 0.35, 0.42, 0.38]
    base = [_run(seed, tc, f'b{seed}') for seed, tc in enumerate(values)]
    def lower(by: float, prefix: str) -> list:
        return [_run(seed, tc - by - 0.01 * seed, f'{prefix}{seed}') for seed, tc in enumerate(values)]
    shows, does_not = ['The effect shows: ...'], ['The effect does not show at this scale: ...']
    for batch, weight, mmd, verdict in (('search', 1e4, lower(0.10, 'a'), shows),
                                        ('reruns', 1e4, lower(0.12, 'c'), shows),
                                        ('search', 3e3, lower(0.30, 'd'), shows),
                                        ('reruns', 3e3, lower(0.20, 'e'), does_not),
                                        ('search', 1e5, lower(0.25, 'f'), shows)):
        (tmp_path / batch).mkdir(exist_ok=True)
        _report(tmp_path / batch / f'report-{weight:g}.json', 'audiocraft-mmd demo', base, mmd, weight)
        report = json.loads((tmp_path / batch / f'report-{weight:g}.json').read_text())
        report.update(verdict=verdict, start_codec={'tc_percent_delay': 0.474, 'msspec': 0.3356})
        (tmp_path / batch / f'report-{weight:g}.json').write_text(json.dumps(report))
    cells = music_cells(tmp_path)
    assert sorted(cell.name for cell in cells) == ['reruns/report-10000', 'reruns/report-3000', 'search/report-10000',
                                                    'search/report-100000', 'search/report-3000']
    assert len({cell.cell_key for cell in cells}) == 3
    best, single, disagree, parallel = best_cell_text(cells)
    assert best.startswith('Best cell (') and '2 report(s), `reruns/report-10000` -0.140 ± 0.020' in best
    assert '`search/report-10000` -0.120 ± 0.020' in best and '3000' not in best  # 3e3 failed a rerun
    assert '100000' not in best  # the strongest change, in one report only
    assert single == "Shown in the one report of a cell, not replicated yet: `search/report-100000` -0.270 ± 0.020 points over 5 seeds."
    assert disagree == ("Reports of one cell disagree: `reruns/report-3000` (does not show), `search/report-3000` "
                        "(shows).")
    assert parallel.startswith('The parallel-aligned I rises with an interval excluding 0 in 0 of the 4 report(s)')
