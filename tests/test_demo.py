"""`audiocraft-mmd demo` in a quick mode, on generated music passed through --audio."""
import json
import os
import subprocess

import pytest

from conftest import REPO, VENV_BIN


def demo(*args: str, env_extra: dict = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([str(VENV_BIN / 'audiocraft-mmd'), 'demo', *args], capture_output=True, text=True,
                          timeout=900, env=env, cwd=REPO)


@pytest.fixture(scope='module')
def tracks(tmp_path_factory):
    from audiocraft_mmd.data import write_synthetic_dataset
    root = tmp_path_factory.mktemp('music')
    write_synthetic_dataset(root, {'tracks': 3}, duration=8.0, sample_rate=22050, seed=1)
    return root / 'audio' / 'tracks'


def test_quick_demo_on_user_audio(tracks, tmp_path):
    args = ['--audio', str(tracks), '--steps', '8', '--out', str(tmp_path / 'demo'), '--cache', str(tmp_path / 'cache'),
            '--segment-duration', '2']
    proc = demo(*args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for label in ('I, delay-aligned (%)', 'I, parallel-aligned (%)', 'MMD, delay-aligned', 'MSSpec', 'SI-SNR (dB)'):
        assert label in proc.stdout
    assert 'baseline' in proc.stdout and 'EnCodec-MMD' in proc.stdout
    assert 'training baseline' in proc.stderr and 'training EnCodec-MMD' in proc.stderr  # progress bars
    report = json.loads((tmp_path / 'demo' / 'report.json').read_text())
    base, mmd = report['results']['baseline'], report['results']['EnCodec-MMD']
    assert base['weight'] == 0 and mmd['weight'] == 1e3 and base['sig'] != mmd['sig']
    assert base['segments'] == mmd['segments'] == 4  # the held-out track: 8 s in 2 s segments
    for result in (base, mmd):
        assert result['dependence']['delay']['num_samples'] == 4 * (100 - 3)
        assert result['msspec'] > 0 and result['mmd_delay'] == result['mmd_delay']  # finite
    assert report['verdict'] in proc.stdout
    assert f"datasource.evaluate={report['data']['evaluate']}" in proc.stdout  # the data works with dora run
    assert (tmp_path / 'demo' / 'demo.png').read_bytes()[:4] == b'\x89PNG'
    splits = {split: sorted(os.listdir(tmp_path / 'cache' / 'user-16000hz' / 'audio' / split))
              for split in report['data']}
    assert splits == {'train': ['tracks_000.wav'], 'valid': ['tracks_001.wav'], 'evaluate': ['tracks_002.wav']}

    # a second run reuses the cached data and the finished XPs, and measures the same
    again = demo(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((tmp_path / 'demo' / 'report.json').read_text())['results'] == report['results']


def test_demo_without_a_music_source_says_what_to_do(tmp_path):
    missing = demo('--audio', str(tmp_path / 'nothing'), '--out', str(tmp_path / 'demo'))
    assert missing.returncode == 2 and '--audio' in missing.stderr and 'no such folder' in missing.stderr
    no_apt = demo('--out', str(tmp_path / 'demo'), '--cache', str(tmp_path / 'cache'),
                  env_extra={'PATH': str(VENV_BIN)})
    assert no_apt.returncode == 2
    assert 'fretsonfire-songs-sectoid' in no_apt.stderr and '--audio DIR' in no_apt.stderr
    assert 'Traceback' not in missing.stderr + no_apt.stderr
    assert not (tmp_path / 'demo' / 'report.json').exists()  # no silent fallback to other audio
