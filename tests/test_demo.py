"""`audiocraft-mmd demo`: quick runs on generated music passed through --audio and on the demo's real music,
and the verdict's logic on constructed figures."""
import json
import math
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, VENV_BIN


def demo(*args: str, env_extra: dict = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([str(VENV_BIN / 'audiocraft-mmd'), 'demo', *args], capture_output=True, text=True,
                          timeout=900, env=env, cwd=REPO)


def _not_the_plugins(stderr: str) -> list:
    """The lines of the demo's stderr that are not its progress bars (tqdm redraws with \\r and cursor moves)."""
    lines = (re.sub(r'\x1b\[[0-9]*[A-Za-z]', '', part).strip() for part in re.split(r'[\r\n]', stderr))
    return [line for line in lines if line and not line.startswith(('training ', 'measuring ', 'planted runs'))]


@pytest.fixture(scope='module')
def tracks(tmp_path_factory):
    from audiocraft_mmd.data import write_synthetic_dataset
    root = tmp_path_factory.mktemp('music')
    write_synthetic_dataset(root, {'tracks': 3}, duration=8.0, sample_rate=22050, seed=1)
    return root / 'audio' / 'tracks'


@pytest.fixture(scope='module')
def quick_demo(tracks, tmp_path_factory):
    """`audiocraft-mmd demo` on the generated tracks, 8 steps, 2 seeds at lm-gap's weight (so that lm-gap reuses its
    codecs), its planted part at 60 steps. Returns (its args, its process, tmp dir)."""
    tmp_path = tmp_path_factory.mktemp('quick_demo')
    args = ['--audio', str(tracks), '--steps', '8', '--seeds', '2', '--weight', '1e3', '--out', str(tmp_path / 'demo'),
            '--cache', str(tmp_path / 'cache'), '--segment-duration', '2', '--planted-steps', '60']
    return args, demo(*args), tmp_path


def test_quick_demo_on_user_audio(quick_demo):
    args, proc, tmp_path = quick_demo
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for label in ('I, delay-aligned (%)', 'I, parallel-aligned (%)', 'MMD, fixed bandwidths', 'MMD, scale-free',
                  'latent rms', 'MSSpec', 'SI-SNR (dB)', 'code ablation gap (dB)', 'Working-codec checks'):
        assert label in proc.stdout
    assert 'training baseline seed 0' in proc.stderr and 'training EnCodec-MMD seed 1' in proc.stderr  # progress
    assert _not_the_plugins(proc.stderr) == []  # no dependency warning or notice, only the progress bars
    report = json.loads((tmp_path / 'demo' / 'report-standardized-steps8.json').read_text())
    base, mmd = report['runs']['baseline'], report['runs']['EnCodec-MMD']
    assert [r['seed'] for r in base] == [r['seed'] for r in mmd] == [0, 1]
    assert {r['weight'] for r in base} == {0} and {r['weight'] for r in mmd} == {1e3}
    assert len({r['sig'] for r in base + mmd}) == 4
    for run in base + mmd:
        assert run['num_clips'] == 4  # the held-out track: 8 s in 2 s segments
        assert run['dependence_samples'] == {'delay': 4 * (100 - 3), 'parallel': 4 * 100}  # equal for every codec
        assert all(math.isfinite(run[key]) for key in ('mmd', 'mmd_scale_free', 'msspec', 'code_ablation_gap_db'))
        assert {c['name'] for c in run['checks']} == {'decoder uses the codes', 'reconstructs', 'uses its codebooks'}
    interval = report['summary']['EnCodec-MMD']['tc_percent_delay']
    assert interval['n'] == 2 and interval['low'] <= interval['mean'] <= interval['high']
    assert report['start_codec']['num_clips'] == 4 and report['settings']['scale'] == 'standardized'
    assert report['verdict'][0] in proc.stdout
    # both parts, in order, and closing lines that say what each shows
    out = proc.stdout
    assert out.index('Part 1 of 2: the MMD where it must act') < out.index('Planted dependence: 3 codecs x 5 seeds') \
        < out.index('Part 2 of 2: a working codec') < out.index('Fine-tuning 4 rvq codecs')
    planted = json.loads((tmp_path / 'demo' / 'planted-rvq.json').read_text())
    assert [c['label'] for c in planted['cells']] == ['baseline', 'standardized, weight 100', 'fixed, weight 100']
    assert planted['settings']['steps'] == 60 and report['planted']['verdict'] == planted['verdict']
    closing = out[out.index('What the demo shows.'):]
    assert f"1. {' '.join(planted['verdict'].splitlines())}" in closing
    assert f"2. Real music: {report['verdict'][0]}" in closing
    assert f"datasource.evaluate={report['data']['evaluate']}" in proc.stdout  # the data works with dora run
    assert (tmp_path / 'demo' / 'report-standardized-steps8.png').read_bytes()[:4] == b'\x89PNG'
    splits = {split: sorted(os.listdir(Path(path).parent.parent / 'audio' / split))
              for split, path in report['data'].items()}
    assert splits == {'train': ['tracks_000.wav'], 'valid': ['tracks_001.wav'], 'evaluate': ['tracks_002.wav']}

    # a second run reuses the cached data and the finished XPs, and measures the same
    again = demo(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert 'Reusing prepared music' in again.stdout
    assert 'Fine-tuning 4 rvq codecs from' in proc.stdout  # the first run trained them all
    assert 'Fine-tuning 4 rvq codecs (4 of 4 finished: reused) from' in again.stdout
    assert 'Planted dependence: 3 codecs x 5 seeds (15 reused)' in again.stdout
    assert json.loads((tmp_path / 'demo' / 'report-standardized-steps8.json').read_text())['runs'] == report['runs']


def test_demo_from_scratch_trains_every_codec_without_a_start_codec(quick_demo, tracks):
    """--start scratch: no start codec is measured or named, every XP trains from scratch, the report says so in its
    name."""
    _, _, tmp_path = quick_demo
    out = tmp_path / 'scratch'
    proc = demo('--audio', str(tracks), '--steps', '8', '--seeds', '2', '--weight', '1e3', '--out', str(out),
                '--cache', str(tmp_path / 'cache'), '--segment-duration', '2', '--planted-steps', '0',
                '--start', 'scratch')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'Training 4 rvq codecs from scratch (no start codec): MMD weights 0, 1000' in proc.stdout
    assert 'measuring start' not in proc.stderr and '  start: ' not in proc.stdout
    report = json.loads((out / 'report-standardized-steps8-scratch.json').read_text())
    assert report['start_codec'] is None and report['settings']['start'] == 'scratch'
    for run in report['runs']['baseline'] + report['runs']['EnCodec-MMD']:
        argv = json.loads((out / 'dora' / 'xps' / run['sig'] / '.argv.json').read_text())
        assert not any(arg.startswith('continue_from=') for arg in argv) and 'optim.epochs=1' in argv
    yourself = next(line for line in proc.stdout.splitlines() if line.startswith('Train on the same data yourself'))
    assert 'continue_from' not in yourself


def test_lm_gap_end_to_end_on_the_quick_demos_codecs(quick_demo, tracks):
    """`audiocraft-mmd lm-gap` at a tiny size: it reuses the demo's baseline and MMD-delay XPs (same argv), trains
    the MMD-parallel codec and a delay and a flatten LM per tokenizer and seed through Dora, and writes a table of
    finite figures whose gap is the difference of the two NLLs, the wav files and a page that opens in Chromium."""
    from browser import ensure_chromium, load_page
    _, _, tmp_path = quick_demo
    out = tmp_path / 'demo'
    proc = subprocess.run([str(VENV_BIN / 'audiocraft-mmd'), 'lm-gap', '--audio', str(tracks), '--codec-steps', '8',
                           '--lm-steps', '4', '--seeds', '2', '--generate-seconds', '1', '--out', str(out),
                           '--cache', str(tmp_path / 'cache')], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert _not_the_plugins(proc.stderr) == []
    assert 'Tokenizers baseline, MMD-parallel, MMD-delay (rvq) (2 of 3 finished: reused): ' in proc.stdout
    assert 'LMs: delay and flatten' in proc.stdout  # none trained before
    demo_runs = json.loads((out / 'report-standardized-steps8.json').read_text())['runs']
    report = json.loads((out / 'lm_gap.json').read_text())
    assert report['codec_sigs']['baseline'] == demo_runs['baseline'][0]['sig']  # reused, not retrained
    assert report['codec_sigs']['MMD-delay'] == demo_runs['EnCodec-MMD'][0]['sig']
    assert len(set(report['codec_sigs'].values())) == 3
    for tokenizer in ('baseline', 'MMD-parallel', 'MMD-delay'):
        runs = report['runs'][tokenizer]
        assert [run['seed'] for run in runs] == [0, 1] and len({run['delay_sig'] for run in runs}) == 2
        for run in runs:
            assert all(math.isfinite(run[key]) for key in ('delay_bits', 'flatten_bits', 'gap_bits', 'gap_percent'))
            assert 0 < run['flatten_bits'] <= 4 * 6 * 1.5 and 0 < run['delay_bits'] <= 4 * 6 * 1.5  # 4 x 64 codes
            assert run['gap_bits'] == run['delay_bits'] - run['flatten_bits']
            assert sum(run['gap_bits_per_codebook']) == pytest.approx(run['gap_bits'], abs=1e-9)
            assert run['gap_percent'] == pytest.approx(100 * run['gap_bits'] / run['flatten_bits'])
            assert (run['delay_steps'], run['flatten_steps']) == (50 + 3, 4 * 50)  # 1 s at 50 Hz, K = 4
            assert run['delay_best_step'] == run['flatten_best_step'] == 4  # one epoch of 4 steps: its state
            assert run['positions'] == 4 * 4 * 100 - 4 * (0 + 1 + 2 + 3)  # 4 segments of 2 s, delay's last frames
        summary = report['summary'][tokenizer]['gap_bits']
        assert summary['n'] == 2 and summary['low'] <= summary['mean'] <= summary['high']
    assert report['prediction'] in proc.stdout and 'gap delay - flatten (bits/frame)' in proc.stdout
    assert (out / 'lm_gap.png').read_bytes()[:4] == b'\x89PNG'
    assert report['command'].startswith('audiocraft-mmd lm-gap --audio ')  # for the results document
    from audiocraft_mmd.results import lm_gap_section
    (tmp_path / 'results' / 'lm_gap').mkdir(parents=True)
    (tmp_path / 'results' / 'lm_gap' / 'lm_gap-tiny.json').write_text(json.dumps(report))
    section = lm_gap_section(tmp_path / 'results')
    rows = [line for line in section.splitlines() if line.startswith('| ') and '---' not in line][1:]
    assert [row.split(' | ')[0] for row in rows] == ['| baseline', '| MMD-parallel', '| MMD-delay']
    assert f"`{report['command']}`" in section and report['prediction'] in section and ', 4 steps, 2 seeds;' in section
    gap = report['summary']['MMD-delay']['gap_bits']
    text = f"{gap['mean']:.3f} ± {(gap['high'] - gap['low']) / 2:.3f}"
    assert rows[2].endswith((f" {text} | 4 / 4 |", f" **{text}** | 4 / 4 |"))  # the gap, the best states' steps

    ensure_chromium()
    page = load_page(out / 'report.html')
    assert not page.timed_out and page.external == [] and page.scripts == 0
    assert len(page.audio) == 3 * 4  # per tokenizer: original, reconstruction, delay and flatten generations
    for audio in page.audio:
        assert audio['error'] is None and audio['readyState'] >= 1, audio
        assert audio['duration'] == pytest.approx(1.0, abs=0.02), audio
    assert page.images and all(image['naturalWidth'] > 0 for image in page.images)
    assert 'gap delay - flatten (bits/frame)' in page.text and report['prediction'] in page.text


def test_demo_on_the_real_music_keeps_a_working_codec(tmp_path):
    """The shipped start codec, and a short fine-tune of it on the demo's music, transmit the held-out song."""
    proc = demo('--steps', '20', '--seeds', '1', '--out', str(tmp_path / 'demo'), '--planted-steps', '0')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / 'demo' / 'report-standardized-weight10000-steps20.json').read_text())
    for run in [report['start_codec'], *report['runs']['baseline']]:
        assert all(check['passed'] for check in run['checks']), run['checks']
        assert run['code_ablation_gap_db'] >= 10 and run['sisnr_db'] >= 0
    assert 'start: all passed' in proc.stdout and 'baseline: all passed' in proc.stdout
    assert report['start_codec']['num_clips'] == 34  # the whole held-out song in 5 s segments
    assert 'one seed gives no interval' in report['verdict'][0]  # one seed never claims the effect


def test_demo_checks_its_arguments_before_any_work(tmp_path):
    proc = demo('--steps', '0', '--seeds', '0', '--weight', '0', '--out', str(tmp_path / 'demo'), '--cache',
                str(tmp_path / 'cache'))
    assert proc.returncode == 2
    for message in ('--steps must be >= 1', '--seeds must be >= 1', '--weight must be > 0'):
        assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1  # one line, every problem named
    proc = demo('--start-steps', '4000', '--out', str(tmp_path / 'demo'), '--cache', str(tmp_path / 'cache'))
    assert proc.returncode == 2 and proc.stderr.strip() == (
        'error: --start-steps 4000 trains a start codec: it needs --start train (--start shipped is already trained).')
    assert 'Traceback' not in proc.stderr and not (tmp_path / 'cache').exists() and not (tmp_path / 'demo').exists()


def test_demo_without_a_music_source_says_what_to_do(tmp_path):
    missing = demo('--audio', str(tmp_path / 'nothing'), '--out', str(tmp_path / 'demo'))
    assert missing.returncode == 2 and '--audio' in missing.stderr and 'no such folder' in missing.stderr
    no_apt = demo('--out', str(tmp_path / 'demo'), '--cache', str(tmp_path / 'cache'),
                  env_extra={'PATH': str(VENV_BIN)})
    assert no_apt.returncode == 2
    assert 'fretsonfire-songs-sectoid' in no_apt.stderr and '--audio DIR' in no_apt.stderr
    assert 'Traceback' not in missing.stderr + no_apt.stderr
    assert not list((tmp_path / 'demo').glob('report-*.json'))  # no silent fallback to other audio


def _run(seed: int, tc: float, msspec: float = 0.4, gap: float = 30., sisnr: float = 2.) -> dict:
    checks = [{'name': 'decoder uses the codes', 'passed': gap >= 10, 'detail': f'code ablation gap {gap:.1f} dB'},
              {'name': 'reconstructs', 'passed': sisnr >= 0, 'detail': f'SI-SNR {sisnr:.2f} dB'},
              {'name': 'uses its codebooks', 'passed': True, 'detail': 'entropies'}]
    return {'seed': seed, 'tc_percent_delay': tc, 'msspec': msspec, 'checks': checks}


def test_verdict_claims_the_effect_only_when_every_condition_holds():
    from audiocraft_mmd.experiments.verdict import verdict
    base = [_run(0, 10.), _run(1, 11.), _run(2, 10.5)]
    lower = [_run(0, 5.), _run(1, 5.5), _run(2, 5.2)]
    shows = verdict('baseline', base, 'EnCodec-MMD', lower)
    assert shows.startswith('The effect shows') and 'paired change' in shows

    noisy = [_run(0, 5.), _run(1, 14.), _run(2, 9.)]
    assert 'does not exclude no change' in verdict('baseline', base, 'EnCodec-MMD', noisy)
    broken = [_run(0, 5., gap=0.3), _run(1, 5.5), _run(2, 5.2)]
    text = verdict('baseline', base, 'EnCodec-MMD', broken)
    assert text.startswith('The effect does not show') and 'EnCodec-MMD is not a working codec' in text
    assert 'seed 0: decoder uses the codes failed, code ablation gap 0.3 dB' in text
    worse = [_run(s, 5., msspec=0.5) for s in range(3)]
    assert 'MSSpec rose by 25.0 %' in verdict('baseline', base, 'EnCodec-MMD', worse)
    assert 'one seed gives no interval' in verdict('baseline', base[:1], 'EnCodec-MMD', lower[:1])
    higher = [_run(s, 20.) for s in range(3)]
    assert 'the delay-aligned I went up' in verdict('baseline', base, 'EnCodec-MMD', higher)


def test_demo_refuses_a_pvq_quantizer_without_a_pvq_start_codec(tmp_path):
    proc = demo('--quantizer', 'pvq-dropout', '--out', str(tmp_path / 'demo'), '--cache', str(tmp_path / 'cache'))
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr
    assert ('--quantizer pvq-dropout needs a start codec with encodec.quantizer=pvq, but the shipped start codec '
            'start_codec.th has rvq: pass --start train') in proc.stderr
    assert not (tmp_path / 'cache').exists() and not (tmp_path / 'demo').exists()  # before any data is prepared


def test_demo_quantizer_overrides_reach_every_xp_and_keep_outputs_apart(tmp_path):
    from audiocraft_mmd.demo.run import DemoSettings, demo_xps
    from audiocraft_mmd.experiments.start import start_xp
    from audiocraft_mmd.train import main
    manifests = {split: tmp_path / split for split in ('train', 'valid', 'evaluate')}
    rvq, pvq = DemoSettings(), DemoSettings(quantizer='pvq-dropout', start='train')
    pvq.validate()  # --start train trains a PVQ start codec: accepted
    rvq_xps, pvq_xps = demo_xps(manifests, '//pretrained/x.th', rvq), demo_xps(manifests, '//pretrained/x.th', pvq)
    overrides = ['encodec.quantizer=pvq', 'pvq.q_dropout=true']
    rvq_start, pvq_start = (start_xp(manifests, s.start_steps, s.quantizer) for s in (rvq, pvq))
    for xp in [*pvq_xps, pvq_start]:
        assert all(arg in xp.argv for arg in overrides)
    for xp in [*rvq_xps, rvq_start]:
        assert not any(arg.startswith(('encodec.quantizer', 'pvq.')) for arg in xp.argv)
    pairs = [(rvq_xps[-1], pvq_xps[-1]), (rvq_start, pvq_start)]
    for rvq_xp, pvq_xp in pairs:  # same settings but the quantizer: other XPs (composing a config is slow: 2 pairs)
        assert main.get_xp(rvq_xp.argv).sig != main.get_xp(pvq_xp.argv).sig
    assert (rvq.report_name, pvq.report_name) == ('report-standardized-weight10000',
                                                  'report-pvq-dropout-standardized-weight10000')


def test_start_steps_lengthen_only_the_start_codec_and_keep_the_shipped_recipe_at_the_default(tmp_path):
    from audiocraft_mmd.demo.run import DemoSettings
    from audiocraft_mmd.errors import ConfigurationError
    from audiocraft_mmd.experiments.recipes import START_ARGV, START_STEPS
    from audiocraft_mmd.experiments.start import start_xp
    manifests = {split: tmp_path / split for split in ('train', 'valid', 'evaluate')}
    default = start_xp(manifests, START_STEPS, 'rvq')
    assert START_STEPS == 2000 and 'optim.epochs=40' in START_ARGV and 'optim.updates_per_epoch=50' in START_ARGV
    assert default.argv[:len(START_ARGV)] == START_ARGV and (default.steps, default.epochs) == (2000, 40)
    longer = start_xp(manifests, 4000, 'pvq-dropout')
    assert (longer.steps, longer.epochs) == (4000, 80)
    assert [a for a in longer.argv if a.startswith('optim.')] == ['optim.epochs=80', 'optim.updates_per_epoch=50']
    assert longer.argv[-4:-2] == ['encodec.quantizer=pvq', 'pvq.q_dropout=true']
    for steps in (0, 4010):
        with pytest.raises(ConfigurationError, match='--start-steps must be a positive multiple of 50'):
            DemoSettings(start='train', start_steps=steps).validate()
    DemoSettings(start='train', start_steps=4000, quantizer='pvq').validate()
    DemoSettings(start='scratch', quantizer='pvq').validate()  # no start codec: any quantizer
    with pytest.raises(ConfigurationError, match='--start-steps 1000 trains a start codec: it needs --start train'):
        DemoSettings(start='scratch', start_steps=1000).validate()


def test_start_codec_says_whether_it_trains_resumes_or_reuses_its_xp(tmp_path, monkeypatch, capsys):
    """`--start train` locates its XP first: a finished one is reused (not trained, nor announced as training),
    a partial one resumes at its next epoch. Training and export are replaced by recorders here."""
    import audiocraft.utils.export
    from audiocraft_mmd.experiments import start
    from audiocraft_mmd.train import main
    monkeypatch.setattr(main.dora, 'dir', main.dora.dir)  # restored after: locate_xps points it at out/dora
    trained, exported = [], []
    monkeypatch.setattr(start, 'train_xps', lambda xps, dora_dir, jobs: trained.extend(xps))
    monkeypatch.setattr(audiocraft.utils.export, 'export_encodec',
                        lambda checkpoint, path: (exported.append(checkpoint), Path(path).write_bytes(b'')))
    manifests = {split: tmp_path / split for split in ('train', 'valid', 'evaluate')}
    out = tmp_path / 'out'
    out.mkdir()

    def resolve() -> str:
        trained.clear()
        start.resolve_start('train', 100, 'rvq', manifests, out)  # 2 epochs of 50 updates
        return capsys.readouterr().out

    assert 'Training the start codec (rvq) on ' in resolve() and trained[0].epochs == 2
    folder = trained[0].folder
    assert folder.parent == out / 'dora' / 'xps'
    folder.mkdir(parents=True)
    (folder / 'history.json').write_text(json.dumps([{'train': {}}]))
    assert ': 100 steps, resuming at epoch 2 of 2\n' in resolve() and len(trained) == 1
    (folder / 'history.json').write_text(json.dumps([{'train': {}}] * 2))
    printed = resolve()
    assert 'Reusing the rvq start codec trained on ' in printed and f'100 steps (XP {folder.name})' in printed
    assert 'Training' not in printed and all(xp.finished for xp in trained)  # train_xps skips finished XPs
    assert exported == [folder / 'checkpoint.th']  # once: the exported file is then reused


def _dora_children(pid: int) -> list:
    """The pids of the `dora` processes whose parent is ``pid`` (read from /proc)."""
    found = []
    for stat in Path('/proc').glob('[0-9]*/stat'):
        try:
            ppid = int(stat.read_text().rsplit(')', 1)[1].split()[1])
            cmdline = (stat.parent / 'cmdline').read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b'dora' in cmdline:
            found.append(int(stat.parent.name))
    return found


def test_a_stopped_demo_stops_its_training_jobs(tracks, tmp_path):
    """SIGTERM to `audiocraft-mmd demo` while it trains: it exits (143) and its `dora run` jobs with it, instead
    of leaving them to train on as orphans."""
    log = tmp_path / 'stderr.txt'
    with log.open('w') as stderr:
        proc = subprocess.Popen([str(VENV_BIN / 'audiocraft-mmd'), 'demo', '--audio', str(tracks), '--steps', '400',
                                 '--seeds', '1', '--out', str(tmp_path / 'demo'), '--cache', str(tmp_path / 'cache'),
                                 '--segment-duration', '2', '--planted-steps', '0'], stdout=subprocess.DEVNULL,
                                stderr=stderr, cwd=REPO)
        deadline, children = time.monotonic() + 300, []
        while len(children) < 2:  # --jobs 2: the baseline and the MMD codec train at once
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, 'no dora run started in 300 s'
            time.sleep(0.5)
            children = _dora_children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 128 + signal.SIGTERM
    assert [pid for pid in children if Path(f'/proc/{pid}').exists()] == []  # terminated and reaped


def test_search_options_reach_only_the_mmd_xps_and_name_the_report(tmp_path):
    """--num-batches and --mode go to the MMD codecs only (the baselines stay shared between cells), every
    non-default cell setting names the report, and bad values are refused in one line before any work."""
    from audiocraft_mmd.demo.run import DemoSettings, demo_xps
    from audiocraft_mmd.errors import ConfigurationError
    from audiocraft_mmd.experiments.start import START_CODEC
    manifests = {split: tmp_path / split for split in ('train', 'valid', 'evaluate')}
    default, cell = DemoSettings(), DemoSettings(weight=1e4, steps=1000, num_batches=1, mode='bank')
    default_xps = demo_xps(manifests, '//pretrained/x.th', default)
    cell_xps = demo_xps(manifests, '//pretrained/x.th', cell)
    assert [xp.argv for xp in cell_xps if xp.weight == 0] == [
        [arg.replace('optim.epochs=4', 'optim.epochs=20') for arg in xp.argv] for xp in default_xps if xp.weight == 0]
    for xp in cell_xps:
        assert ('mmd.num_batches=1' in xp.argv and 'mmd.mode=bank' in xp.argv) == (xp.weight > 0)
    assert not any(arg.startswith(('mmd.num_batches', 'mmd.mode')) for xp in default_xps for arg in xp.argv)
    assert (DemoSettings(weight=1e3).report_name, default.report_name, cell.report_name,
            DemoSettings(start='train', start_steps=1000).report_name) == (
        'report-standardized', 'report-standardized-weight10000', 'report-standardized-weight10000-steps1000-nb1-bank',
        'report-standardized-weight10000-start1000')
    # a start codec of the user's names its report, so that two start codecs' reports do not overwrite each other;
    # a file is named by its bytes: a copy of the shipped codec is the shipped codec
    shutil.copy(START_CODEC, tmp_path / 'copy.th')
    (tmp_path / 'other.th').write_bytes(START_CODEC.read_bytes() + b'x')
    mine = [DemoSettings(start=start).report_name for start in (
        '//sig/0123abcd', 'facebook/encodec_32khz', str(tmp_path / 'other.th'), str(tmp_path / 'copy.th'))]
    assert mine[0] == 'report-standardized-weight10000-from0123abcd'
    assert all(name.startswith('report-standardized-weight10000-from') for name in mine[1:3])
    assert len(set(mine)) == 4 and mine[3] == default.report_name
    assert DemoSettings(start='scratch', steps=2000).report_name == 'report-standardized-weight10000-steps2000-scratch'
    with pytest.raises(ConfigurationError) as error:
        DemoSettings(num_batches=0, mode='bnak').validate()
    assert str(error.value) == ("--num-batches must be >= 1 (mmd.num_batches), got 0; --mode bnak: did you mean bank? "
                                "(--mode must be one of macro_batch, bank).")
    proc = demo('--num-batches', '0', '--out', str(tmp_path / 'demo'), '--cache', str(tmp_path / 'cache'))
    assert proc.returncode == 2 and proc.stderr.strip() == 'error: --num-batches must be >= 1 (mmd.num_batches), got 0.'
    assert not (tmp_path / 'cache').exists() and not (tmp_path / 'demo').exists()


def test_presets_run_cells_of_the_search_that_show_the_effect(tmp_path):
    """The default and --long run a cell whose committed reports (docs/results/music) all show the effect, with 5
    seeds or more in one of them; they say which cell runs and its measured duration before any work, and options
    given beside a preset replace its values."""
    from audiocraft_mmd.demo.run import PRESETS, DemoSettings
    from audiocraft_mmd.results import music_cells
    assert DemoSettings() == DemoSettings.from_preset('default')
    cells = music_cells(REPO / 'docs' / 'results' / 'music')
    for preset, cell in PRESETS.items():
        settings = DemoSettings.from_preset(preset)
        reports = [report for report in cells if report.label == 'EnCodec-MMD' and report.settings['scale'] ==
                   settings.scale and (report.settings['weight'], report.settings['num_batches'],
                                       report.settings['steps'], report.settings['mode'],
                                       report.settings['start_steps']) ==
                   (cell.weight, cell.num_batches, cell.steps, None, settings.start_steps)]
        assert reports and all(report.verdict.startswith('The effect shows') for report in reports), preset
        assert max(len(report.runs) for report in reports) >= 5
        assert re.fullmatch(r'about \d+ min on a 2-core .+', cell.expected), cell.expected
        assert settings.preset_text(preset).endswith(f"expected duration {cell.expected}; finished XPs in --out are "
                                                     "reused.")
    long = DemoSettings.from_preset('long', seeds=3)
    assert (long.seeds, long.weight, long.num_batches, long.measure_train) == (3, 1e4, None, True)
    assert long.preset_text('long').endswith('changed by your options, so its measured duration does not apply.')
    proc = demo('--long', '--seeds', '0', '--out', str(tmp_path / 'demo'), '--cache', str(tmp_path / 'cache'))
    assert proc.returncode == 2 and proc.stderr.strip() == ('error: --seeds must be >= 1 (>= 2 for an interval), '
                                                            'got 0.')
    assert not (tmp_path / 'cache').exists() and not (tmp_path / 'demo').exists()
