"""The demo's music cache: one prepared folder per --audio folder and contents, never a half-written one."""
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from audiocraft_mmd.experiments.music import COMPLETE, SPLITS, audio_files, prepare_demo_data, user_cache_root
from audiocraft_mmd.errors import ConfigurationError

SR = 16000


def write_tracks(folder: Path, names, seconds: float = 1.0, freq: float = 220.) -> Path:
    """Short sine wavs ``folder/<name>.wav`` at 16 kHz."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    for i, name in enumerate(names):
        soundfile.write(folder / f'{name}.wav', (0.3 * np.sin(2 * np.pi * freq * (i + 1) * t)).astype(np.float32), SR)
    return folder


def prepared(manifests) -> dict:
    """``{split: sorted wav names}`` of the prepared audio folders, checked against the manifests."""
    result = {}
    for split, manifest_dir in manifests.items():
        root = manifest_dir.parent.parent
        names = sorted(p.name for p in (root / 'audio' / split).iterdir())
        listed = [json.loads(line)['path'] for line in (manifest_dir / 'data.jsonl').read_text().splitlines()]
        assert sorted(Path(p).name for p in listed) == names
        assert all(Path(p).parent == (root / 'audio' / split).resolve() for p in listed)
        result[split] = names
    return result


def mtimes(root: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in root.rglob('*') if p.is_file()}


def test_each_folder_gets_its_own_cache(tmp_path):
    first = write_tracks(tmp_path / 'a', ['a0', 'a1', 'a2'])
    second = write_tracks(tmp_path / 'b', ['b0', 'b1', 'b2', 'b3'])
    cache = tmp_path / 'cache'
    got_a, got_b = prepare_demo_data(cache, SR, first), prepare_demo_data(cache, SR, second)
    root_a, root_b = got_a['train'].parent.parent, got_b['train'].parent.parent
    assert root_a != root_b and root_a.parent == root_b.parent == cache
    assert root_a == user_cache_root(cache, SR, first, audio_files(first))
    assert root_a.name.startswith('user-') and root_a.name.endswith('-16000hz') and len(root_a.name) == 25
    assert prepared(got_a) == {'train': ['a0.wav'], 'valid': ['a1.wav'], 'evaluate': ['a2.wav']}
    assert prepared(got_b) == {'train': ['b0.wav', 'b1.wav'], 'valid': ['b2.wav'], 'evaluate': ['b3.wav']}
    assert set(got_a) == set(SPLITS) and (root_a / COMPLETE).is_file()


def test_same_folder_reuses_the_cache(tmp_path, capsys):
    tracks = write_tracks(tmp_path / 'music', ['t0', 't1', 't2'])
    first = prepare_demo_data(tmp_path / 'cache', SR, tracks)
    assert capsys.readouterr().out == ''
    root = first['train'].parent.parent
    before = mtimes(root)
    assert prepare_demo_data(tmp_path / 'cache', SR, tracks) == first
    out = capsys.readouterr().out
    assert out == f"Reusing prepared music in {root} (same files as {tracks})\n"
    assert mtimes(root) == before


def test_a_changed_file_gives_a_new_cache(tmp_path):
    tracks = write_tracks(tmp_path / 'music', ['t0', 't1', 't2'])
    root = prepare_demo_data(tmp_path / 'cache', SR, tracks)['train'].parent.parent
    write_tracks(tracks, ['t1'], seconds=2.0)  # new content and size
    changed = prepare_demo_data(tmp_path / 'cache', SR, tracks)['train'].parent.parent
    assert changed != root
    assert soundfile.info(changed / 'audio' / 'valid' / 't1.wav').frames == 2 * SR
    (tracks / 't2.wav').rename(tracks / 't3.wav')
    assert prepare_demo_data(tmp_path / 'cache', SR, tracks)['train'].parent.parent not in (root, changed)


def test_too_few_tracks_fail_before_writing(tmp_path):
    tracks = write_tracks(tmp_path / 'music', ['t0', 't1'])
    with pytest.raises(ConfigurationError, match='at least 3 tracks'):
        prepare_demo_data(tmp_path / 'cache', SR, tracks)
    assert not (tmp_path / 'cache').exists()


def test_half_prepared_cache_is_not_reused(tmp_path, capsys):
    tracks = write_tracks(tmp_path / 'music', ['t0', 't1', 't2'])
    root = user_cache_root(tmp_path / 'cache', SR, tracks, audio_files(tracks))
    for split in SPLITS:  # an interrupted preparation: manifests written, audio and completion marker missing
        (root / 'egs' / split).mkdir(parents=True)
        (root / 'egs' / split / 'data.jsonl').write_text('')
    (root / 'audio' / 'train').mkdir(parents=True)
    (root / 'audio' / 'train' / 'stale.wav').write_bytes(b'')
    manifests = prepare_demo_data(tmp_path / 'cache', SR, tracks)
    assert capsys.readouterr().out == ''
    assert manifests['train'].parent.parent == root and (root / COMPLETE).is_file()
    assert prepared(manifests) == {'train': ['t0.wav'], 'valid': ['t1.wav'], 'evaluate': ['t2.wav']}
