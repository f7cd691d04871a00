"""Wrong input never trains, never trains on other data than given, and gets a message naming what to change.

One test per row of the bad-input table (issue 13): bad files in a manifest, silent data, misspelt keys,
several errors at once, an unwritable cache, a truncated checkpoint, a missing split, the demo's
held-out audio; then issue 27's rows: a value of the wrong shape for its key, a manifest line that is not
an entry, a misspelt or miscased choice value, a file that is not a checkpoint; then issue 26's rows: NaN or
Inf samples in a float WAV, a manifest duration far beyond the file's, a loss that turns non-finite. Each asserts
the message and that nothing on disk changed.
"""
import hashlib
import json
import os
import subprocess
import typing as tp
import warnings
import zipfile
from pathlib import Path

import numpy as np
import omegaconf
import pytest
import soundfile
import torch

from conftest import DEBUG_SOLVER, DORA_DIR, REPO, VENV_BIN, read_history, run_dora, xp_folder

from audiocraft_mmd.data.audio_check import check_audio_file, check_manifest, write_good_entries
from audiocraft_mmd.errors import ConfigurationError

SR = 16000


def _tone(seconds: float, amplitude: float = 0.5, silent_until: float = 0.) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    wav = amplitude * np.sin(2 * np.pi * 220 * t) * (t >= silent_until)
    return wav.astype(np.float32)


def _tree_digest(*folders: Path, pattern: str = '*') -> dict:
    """Every file matching ``pattern`` under ``folders`` with its content hash (to show nothing changed)."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in folders for p in sorted(Path(folder).rglob(pattern)) if p.is_file()}


@pytest.fixture(scope='module')
def bad_manifest(tmp_path_factory):
    """A manifest of 6 files: 2 good (one with a silent intro), one deleted after listing, random bytes named
    .wav, a 0-byte wav and a silent wav. Returns (manifest_dir, valid_dir, audio_dir)."""
    from audiocraft_mmd.data import write_manifest
    root = tmp_path_factory.mktemp('bad')
    audio = root / 'audio'
    audio.mkdir()
    soundfile.write(audio / 'a_good.wav', _tone(3.), SR)
    soundfile.write(audio / 'b_quiet_intro.wav', _tone(3., silent_until=1.), SR)  # silent probe at 0 s only
    soundfile.write(audio / 'c_deleted.wav', _tone(3.), SR)
    soundfile.write(audio / 'f_silent.wav', np.zeros(3 * SR, np.float32), SR)
    write_manifest(audio, root / 'train')
    (audio / 'c_deleted.wav').unlink()
    lines = (root / 'train' / 'data.jsonl').read_text().splitlines()
    for name, payload in (('d_corrupt.wav', np.random.default_rng(0).bytes(4000)), ('e_empty.wav', b'')):
        (audio / name).write_bytes(payload)
        lines.insert(-1, json.dumps({'path': str(audio / name), 'duration': 3.0, 'sample_rate': SR,
                                     'amplitude': None, 'weight': None, 'info_path': None}))
    (root / 'train' / 'data.jsonl').write_text('\n'.join(lines) + '\n')
    valid = root / 'valid_audio'
    valid.mkdir()
    soundfile.write(valid / 'v.wav', _tone(3.), SR)
    write_manifest(valid, root / 'valid')
    return root / 'train', root / 'valid', audio


EXPECTED_BAD = {3: 'no such file', 4: 'does not decode', 5: 'empty file (0 bytes)', 6: 'silent (peak amplitude 0)'}


def test_each_kind_of_bad_file_is_found_with_its_manifest_line(bad_manifest):
    manifest, _, audio = bad_manifest
    check = check_manifest(manifest / 'data.jsonl')
    assert check.total == 6
    assert {b.line: b.reason.split(' (')[0] if b.line == 4 else b.reason for b in check.bad} == EXPECTED_BAD
    assert [Path(b.path).name for b in check.bad] == ['c_deleted.wav', 'd_corrupt.wav', 'e_empty.wav', 'f_silent.wav']
    assert check.good_lines == [1, 2]
    assert check_audio_file(audio / 'b_quiet_intro.wav') is None  # silent start, sound later: not silent
    out = write_good_entries(check, manifest.parent / 'kept')
    assert [Path(json.loads(line)['path']).name for line in out.read_text().splitlines()] == \
        ['a_good.wav', 'b_quiet_intro.wav']


def test_bad_files_stop_the_run_before_training_or_are_skipped_only_when_asked(bad_manifest):
    manifest, valid, audio = bad_manifest
    argv = [DEBUG_SOLVER, f'datasource.train={manifest}', f'datasource.valid={valid}', 'optim.epochs=2',
            'optim.updates_per_epoch=2', 'mmd.num_batches=2', 'dataset.train.num_samples=16']
    before = _tree_digest(manifest, audio)
    refused = run_dora('run', *argv, check=False)
    assert refused.returncode != 0 and 'Traceback' not in refused.stderr
    message = refused.stderr[refused.stderr.index('error: '):]
    assert f"datasource.train: 4 of the 6 files listed in {manifest / 'data.jsonl'} cannot be trained on" in message
    for line, reason in EXPECTED_BAD.items():
        assert f"line {line}: " in message and reason in message
    assert 'datasource.skip_bad_files=true' in message
    folder = xp_folder(argv)
    assert not (folder / 'checkpoint.th').exists() and not (folder / 'history.json').exists()
    assert _tree_digest(manifest, audio) == before

    skipped = [*argv, 'datasource.skip_bad_files=true']
    proc = run_dora('run', *skipped)
    log = proc.stdout + proc.stderr
    assert 'are skipped (datasource.skip_bad_files=true); the split reads the 2 others' in log
    folder = xp_folder(skipped)
    kept = (folder / 'checked_manifests' / 'train' / 'data.jsonl').read_text().splitlines()
    assert [Path(json.loads(line)['path']).name for line in kept] == ['a_good.wav', 'b_quiet_intro.wav']
    assert len(read_history(folder)) == 2
    assert _tree_digest(manifest, audio) == before  # the user's manifest and audio are untouched

    # a truncated checkpoint.th at resume: a message naming the newest intact checkpoint_N.th, nothing changed
    last = folder / 'checkpoint.th'
    last.write_bytes(last.read_bytes()[:last.stat().st_size // 2])
    state = _tree_digest(folder, pattern='checkpoint*')  # the logs grow; the checkpoints must not change
    resumed = run_dora('run', *skipped, check=False)
    assert resumed.returncode != 0 and 'Traceback' not in resumed.stderr
    assert f"{last} is truncated or corrupt" in resumed.stderr and 'The newest intact one is checkpoint_2.th' in \
        resumed.stderr
    assert _tree_digest(folder, pattern='checkpoint*') == state
    command = resumed.stderr.split('run `', 1)[1].split('`', 1)[0]  # what the message says to run
    subprocess.run(command, shell=True, check=True)
    assert (folder / 'checkpoint.th.corrupt').is_file()
    again = run_dora('run', *skipped)  # resumes from epoch 2: already done, trains nothing more
    assert len(read_history(folder)) == 2, again.stderr[-2000:]


def test_an_all_silent_dataset_is_refused_even_when_skipping_bad_files(tmp_path, data_overrides):
    from audiocraft_mmd.data import write_manifest
    from audiocraft_mmd.train import get_solver, main
    for name in ('a', 'b'):
        (tmp_path / 'audio').mkdir(exist_ok=True)
        soundfile.write(tmp_path / 'audio' / f'{name}.wav', np.zeros(2 * SR, np.float32), SR)
    write_manifest(tmp_path / 'audio', tmp_path / 'train')
    argv = [DEBUG_SOLVER, *data_overrides, f'datasource.train={tmp_path / "train"}', 'datasource.skip_bad_files=true']
    before = _tree_digest(tmp_path)
    with pytest.raises(ConfigurationError) as info:
        get_solver(main.get_xp(argv).cfg, xp_folder=tmp_path / 'xp')
    manifest = tmp_path / 'train' / 'data.jsonl'
    assert str(info.value).startswith(f"datasource.train: none of the 2 files listed in {manifest} can be trained on")
    assert 'a.wav: silent (peak amplitude 0)' in str(info.value)
    assert _tree_digest(tmp_path) == before and not (tmp_path / 'xp').exists()


def test_resume_check_names_the_newest_intact_epoch_checkpoint(tmp_path):
    from audiocraft_mmd.models.checkpoint_files import check_resume_checkpoint
    for epoch in (1, 2, 3):
        torch.save({'epoch': epoch, 'w': torch.ones(1000)}, tmp_path / f'checkpoint_{epoch}.th')
    torch.save({'epoch': 3, 'w': torch.ones(1000)}, tmp_path / 'checkpoint.th')
    check_resume_checkpoint(tmp_path)  # intact: nothing to say
    for name in ('checkpoint.th', 'checkpoint_3.th'):
        data = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(data[:len(data) - 300])
    before = _tree_digest(tmp_path)
    with pytest.raises(ConfigurationError, match=r'The newest intact one is checkpoint_2\.th') as info:
        check_resume_checkpoint(tmp_path)
    assert f"mv {tmp_path / 'checkpoint.th'} {tmp_path / 'checkpoint.th.corrupt'}" in str(info.value)
    assert _tree_digest(tmp_path) == before
    for epoch in (1, 2):
        (tmp_path / f'checkpoint_{epoch}.th').unlink()
    with pytest.raises(ConfigurationError, match='No intact checkpoint_N.th'):
        check_resume_checkpoint(tmp_path)


def test_a_kernel_that_sees_no_signal_warns_once():
    """Silent audio: the codes are all (nearly) the same, with rare outliers, so no bandwidth is informative at
    the median distance even though a few pairs are far apart (not the all-pairs collapse)."""
    from audiocraft_mmd.losses import MMDLoss
    g = torch.Generator().manual_seed(0)
    codes = 1e-7 * torch.randn(8, 4, 8, 20, generator=g)
    codes[0, :, :, 0] += 3.
    loss = MMDLoss(collapse_check_every=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        for _ in range(3):
            loss(codes, torch.Generator().manual_seed(1))
    diag = loss.last_diagnostics
    assert not diag.collapsed and diag.active_fraction == 0 and diag.median_sqdist < 1e-8
    messages = [str(w.message) for w in caught if 'sees no signal' in str(w.message)]
    assert len(messages) == 1 and 'is the training audio silent' in messages[0]


def _config_error(argv) -> str:
    from audiocraft_mmd.train import main
    with pytest.raises(ConfigurationError) as info:
        main.get_xp(argv)
    return str(info.value)


def test_misspelt_keys_get_the_nearest_valid_key_with_or_without_plus():
    assert _config_error([DEBUG_SOLVER, 'mmd.wieght=3']) == \
        "mmd.wieght=3: unknown key mmd.wieght; did you mean mmd.weight?"
    assert _config_error([DEBUG_SOLVER, '+mmd.wieght=3']) == \
        "+mmd.wieght=3: adds mmd.wieght next to mmd.weight; did you mean mmd.weight=3?"
    assert _config_error(['solver=compression/encodec_mmd_degub']) == (
        "solver=compression/encodec_mmd_degub: no such config in group 'solver'; did you mean "
        "solver=compression/encodec_mmd_debug?")
    both = _config_error([DEBUG_SOLVER, 'dataset.batch_sise=4', 'mmd.kernal=linear'])
    assert both.splitlines() == [
        "2 problems in the configuration:",
        "  - dataset.batch_sise=4: unknown key dataset.batch_sise; did you mean dataset.batch_size?",
        "  - mmd.kernal=linear: unknown key mmd.kernal; did you mean mmd.kernel?"]
    # a key added on purpose (not near an existing one) still works, as in Hydra
    from audiocraft_mmd.train import main
    assert main.get_xp([DEBUG_SOLVER, '+my_note=hello']).cfg.my_note == 'hello'


def test_a_misspelt_key_on_the_command_line_prints_one_line_and_writes_nothing():
    proc = run_dora('run', DEBUG_SOLVER, 'mmd.wieght=3', check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == "error: mmd.wieght=3: unknown key mmd.wieght; did you mean " \
                                                   "mmd.weight?"
    assert 'Traceback' not in proc.stderr and '+mmd.wieght' not in proc.stderr


def test_every_configuration_error_is_reported_at_once(tmp_path, data_overrides):
    from audiocraft_mmd.train import get_solver, main
    argv = [DEBUG_SOLVER, *data_overrides, f'datasource.train={tmp_path / "nonexistent"}', 'mmd.weight=-1',
            'mmd.alignment=sideways', 'mmd.num_batches=0']
    cfg = main.get_xp(argv).cfg
    with pytest.raises(ConfigurationError) as info:
        get_solver(cfg)
    lines = str(info.value).splitlines()
    assert lines[0] == "4 problems in the configuration:"
    assert lines[1].startswith(f"  - datasource.train={tmp_path / 'nonexistent'}: no manifest found")
    assert '`audiocraft-mmd manifest AUDIO_DIR OUT_DIR` writes one' in lines[1]  # the plugin's own tool
    assert [line.split(' must')[0] for line in lines[2:]] == ['  - mmd.weight', '  - mmd.num_batches',
                                                              '  - mmd.alignment']
    assert not (tmp_path / 'nonexistent').exists()


def test_an_unwritable_cache_names_the_directory_and_the_variable(monkeypatch, tmp_path):
    from audiocraft_mmd import environment
    blocker = tmp_path / 'home'
    blocker.write_text('a file where the cache folder should be')  # root ignores permissions; this blocks root too
    monkeypatch.setenv('AUDIOCRAFT_MMD_CACHE', str(blocker / 'cache'))
    monkeypatch.setenv('AUDIOCRAFT_MMD_INDEX_URL', 'http://127.0.0.1:9/simple')  # never reached
    environment.audiocraft_config_dir.cache_clear()
    try:
        with pytest.raises(environment.AudiocraftConfigError) as info:
            environment.fetch_audiocraft_config('1.3.0', blocker / 'cache' / 'audiocraft-1.3.0' / 'config')
    finally:
        environment.audiocraft_config_dir.cache_clear()
    assert f"Cannot write to {blocker / 'cache'}" in str(info.value) and 'AUDIOCRAFT_MMD_CACHE' in str(info.value)
    assert blocker.read_text().startswith('a file')


def _demo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / 'audiocraft-mmd'), 'demo', *args], capture_output=True, text=True,
                          timeout=600, cwd=REPO)


def test_demo_refuses_unusable_music_before_preparing_anything(tmp_path):
    music = tmp_path / 'music'
    music.mkdir()
    for name in ('a', 'b', 'c'):
        soundfile.write(music / f'{name}.wav', _tone(4.), SR)
    short = _demo('--audio', str(music), '--out', str(tmp_path / 'demo'), '--cache', str(tmp_path / 'cache'),
                  '--segment-duration', '5')
    assert short.returncode == 2 and 'Traceback' not in short.stderr
    assert 'the held-out track c.wav lasts 4.00 s, shorter than --segment-duration 5 s' in short.stderr
    (music / 'b.wav').write_bytes(b'')
    corrupt = _demo('--audio', str(music), '--out', str(tmp_path / 'demo'), '--cache', str(tmp_path / 'cache'))
    assert corrupt.returncode == 2 and f"{music / 'b.wav'}: empty file (0 bytes)" in corrupt.stderr
    unwritable = _demo('--audio', str(music), '--out', str(tmp_path / 'demo'), '--cache', str(music / 'a.wav' / 'c'))
    assert unwritable.returncode == 2
    assert f"Cannot write to {music / 'a.wav' / 'c'}" in unwritable.stderr and '--cache DIR' in unwritable.stderr
    assert not (tmp_path / 'cache').exists() and not (tmp_path / 'demo').exists()


@pytest.mark.smoke
def test_imports_print_no_dependency_notice_and_xformers_has_its_compiled_ops():
    """A matched torch/xFormers pair: no build-mismatch warning, and xFormers' C++/CUDA ops load (GPU attention).
    The only line is audiocraft's own "Dora directory" notice of the Dora entry point (the CLI hides it)."""
    code = ("import audiocraft_mmd.cli, audiocraft_mmd.train, audiocraft.modules.transformer, xformers; "
            "print(xformers._has_cpp_library)")
    env = dict(os.environ, AUDIOCRAFT_DORA_DIR='/tmp/acmmd_quiet_dora')
    proc = subprocess.run([str(VENV_BIN / 'python'), '-c', code], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == 'True'  # xformers._has_cpp_library: private flag, the one xFormers sets itself
    assert [line for line in proc.stderr.splitlines() if not line.startswith('Dora directory: ')] == [], proc.stderr


def _xp_folders() -> set:
    return set((DORA_DIR / 'xps').glob('*'))


def test_a_value_where_the_config_holds_a_group_names_the_key_that_takes_it():
    """Issue 27, row 1: Dora would stop on an AssertionError (or, for the reverse, record a garbled delta)."""
    before = _xp_folders()
    assert _config_error([DEBUG_SOLVER, 'mmd.alignment=pattern', 'mmd.pattern=coarse_first']) == (
        "mmd.pattern=coarse_first: mmd.pattern is a group of keys (modeling, delay, unroll, coarse_first, musiclm), "
        "not a single value; set one of its keys: mmd.pattern.modeling=coarse_first")
    assert _config_error([DEBUG_SOLVER, 'mmd.kernel={sigma:12}']) == (
        "mmd.kernel={sigma:12}: mmd.kernel is a single value (now multiscale_gaussian), not a group of keys; did you "
        "mean mmd.kernel_params={sigma:12}?")
    assert _config_error([DEBUG_SOLVER, 'mmd.weight={value:3}']) == (
        "mmd.weight={value:3}: mmd.weight is a single value (now 100.0), not a group of keys; write mmd.weight=VALUE.")
    # a list for a group (Hydra itself refuses it), null, and with other problems: all reported at once
    assert _config_error([DEBUG_SOLVER, 'mmd.pattern.delay=[0,1]', 'mmd.wieght=3', 'mmd.pattern=null']).splitlines() == [
        "3 problems in the configuration:",
        "  - mmd.wieght=3: unknown key mmd.wieght; did you mean mmd.weight?",
        "  - mmd.pattern.delay=[0,1]: mmd.pattern.delay is a group of keys (delays, flatten_first, empty_initial), "
        "not a list; set one of its keys: mmd.pattern.delay.delays=[0,1]",
        "  - mmd.pattern=null: mmd.pattern is a group of keys (modeling, delay, unroll, coarse_first, musiclm), not "
        "null; set one of its keys: mmd.pattern.modeling=null"]
    # what works still works: a whole group given as a group, a group's key, a null key given a group, a config group
    from audiocraft_mmd.train import main
    for argv in (['mmd.pattern={modeling:coarse_first}'], ['mmd.pattern.modeling=coarse_first'],
                 ['mmd.kernel_params={sigma:12}'], ['mmd=default']):
        main.get_xp([DEBUG_SOLVER, *argv])
    assert _xp_folders() == before


def test_every_group_of_the_plugin_configs_gets_the_same_message():
    from audiocraft_mmd.train import main
    cfg = main.get_xp([DEBUG_SOLVER]).cfg
    groups = [f"{top}.{key}" for top in ('mmd', 'pvq', 'datasource') for key, node in cfg[top].items()
              if isinstance(node, omegaconf.DictConfig)]
    groups += [f"mmd.pattern.{key}" for key, node in cfg.mmd.pattern.items() if isinstance(node, omegaconf.DictConfig)]
    assert {'mmd.pattern', 'mmd.pattern.delay', 'mmd.pattern.musiclm'} <= set(groups)
    for key in groups:
        assert _config_error([DEBUG_SOLVER, f'{key}=2']).startswith(f"{key}=2: {key} is a group of keys ("), key


def test_the_wrong_shape_on_the_command_line_prints_one_line_and_creates_no_xp():
    before = _xp_folders()
    proc = run_dora('run', DEBUG_SOLVER, 'mmd.alignment=pattern', 'mmd.pattern=coarse_first', check=False)
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr and 'AssertionError' not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: mmd.pattern=coarse_first: mmd.pattern is a group of keys (modeling, delay, unroll, coarse_first, "
        "musiclm), not a single value; set one of its keys: mmd.pattern.modeling=coarse_first")
    assert _xp_folders() == before


@pytest.mark.parametrize('lines, message', [
    (['{"path": "A", "duration": 3.0, "sample_rate": 16000}', '{"path": "A", "duration": 3.0, "sample_rate": 16000}',
      '{"path": "A", "duration": 3.0 "sample_rate": 16000}'],
     "line 3 is not valid JSON (Expecting ',' delimiter at column {column}); each line is one JSON object with path, "
     "duration, sample_rate"),
    (['{"path": "A", "duration": 3.0, "sample_rate": 16000}', '{"duration": 3.0, "sample_rate": 16000}'],
     'line 2 has no "path" (its keys: duration, sample_rate); each line needs path, duration, sample_rate'),
    (['{"path": "A", "duration": 3.0, "sample_rate": 16000}', '', '{"path": "A", "duration": 3.0, "sample_rate": 1}'],
     "line 2 is empty; each line is one JSON object with path, duration, sample_rate"),
    (['["A", 3.0, 16000]'], "line 1 is a JSON list, not an object with path, duration, sample_rate"),
])
def test_a_bad_manifest_line_is_named_by_its_number(tmp_path, data_overrides, lines, message):
    """Issue 27, row 2: the manifest's line and what is wrong with it, not the position inside the JSON text."""
    from audiocraft_mmd.train import get_solver, main
    (tmp_path / 'audio').mkdir()
    soundfile.write(tmp_path / 'audio' / 'a.wav', _tone(3.), SR)
    (tmp_path / 'train').mkdir()
    manifest = tmp_path / 'train' / 'data.jsonl'
    lines = [line.replace('"A"', json.dumps(str(tmp_path / 'audio' / 'a.wav'))) for line in lines]
    manifest.write_text('\n'.join(lines) + '\n')
    message = message.format(column=lines[-1].find(' "sample_rate"') + 2)  # where the JSON text breaks
    argv = [DEBUG_SOLVER, *data_overrides, f'datasource.train={tmp_path / "train"}', 'datasource.skip_bad_files=true']
    before = _tree_digest(tmp_path)
    with pytest.raises(ConfigurationError) as info:
        get_solver(main.get_xp(argv).cfg, xp_folder=tmp_path / 'xp')
    assert str(info.value) == (f"datasource.train: {manifest} {message}; `audiocraft-mmd manifest AUDIO_DIR OUT_DIR` "
                               "writes one.")
    assert _tree_digest(tmp_path) == before and not (tmp_path / 'xp').exists()


def test_choice_values_get_the_nearest_valid_value_and_case_is_named():
    """Issue 27, row 3: one helper for every key with a fixed set of values."""
    from audiocraft_mmd.errors import choice_problem
    scales = ('fixed', 'standardized', 'median')
    assert choice_problem('mmd.scale', 'median', scales) is None
    assert choice_problem('mmd.scale', 'Standardized', scales) == \
        "mmd.scale=Standardized: did you mean standardized? (values are case-sensitive)"
    assert choice_problem('mmd.scale', 'medain', scales) == \
        "mmd.scale=medain: did you mean median? (mmd.scale must be one of fixed, standardized, median)"
    assert choice_problem('--quantizer', 'pqv', ('rvq', 'pvq'), sep=' ') == \
        "--quantizer pqv: did you mean pvq? (--quantizer must be one of rvq, pvq)"  # the letters of a valid one
    assert choice_problem('mmd.alignment', 'flatten', ('delay', 'parallel', 'pattern')) == \
        "mmd.alignment must be one of delay, parallel, pattern, got 'flatten'."  # nothing near: no guess


def test_misspelt_and_miscased_mmd_values_are_named_with_the_valid_one(data_overrides):
    from audiocraft_mmd import solvers
    from audiocraft_mmd.train import main
    cfg = main.get_xp([DEBUG_SOLVER, *data_overrides, 'mmd.kernel=gausian', 'mmd.scale=Standardized',
                       'mmd.stream=Quantized', 'mmd.alignment=pattern', 'mmd.pattern.modeling=coarse_frist',
                       'encodec.quantizer=pqv']).cfg
    with pytest.raises(ConfigurationError) as info:
        solvers.check_config(cfg)
    assert sorted(str(info.value).splitlines()[1:]) == sorted([
        "  - encodec.quantizer=pqv: did you mean pvq? (encodec.quantizer must be one of rvq, pvq)",
        "  - mmd.pattern.modeling=coarse_frist: did you mean coarse_first? (mmd.pattern.modeling must be one of "
        "delay, parallel, unroll, coarse_first, musiclm).",
        "  - mmd.kernel=gausian: did you mean multiscale_gaussian? (mmd.kernel must be one of multiscale_gaussian, "
        "squared_inverse, linear, quadratic)",
        "  - mmd.stream=Quantized: did you mean quantized? (values are case-sensitive)",
        "  - mmd.scale=Standardized: did you mean standardized? (values are case-sensitive)"])


def test_command_line_choices_get_the_nearest_valid_value(tmp_path, capsys):
    from audiocraft_mmd.cli import main
    for args, message in (
            (['demo', '--scale', 'Standardized'], "--scale Standardized: did you mean standardized? (values are "
                                                  "case-sensitive)"),
            (['lm-gap', '--quantizer', 'pvq_dropout'], "--quantizer pvq_dropout: did you mean pvq-dropout? "
                                                       "(--quantizer must be one of rvq, pvq, pvq-dropout)"),
            (['dependance'], "COMMAND dependance: did you mean dependence? (COMMAND must be one of demo, ")):
        with pytest.raises(SystemExit) as info:
            main([*args, '--out', str(tmp_path / 'out')])
        assert info.value.code == 2 and message in capsys.readouterr().err.splitlines()[-1]
    assert not (tmp_path / 'out').exists()


def test_a_file_that_is_not_a_checkpoint_is_named_in_the_plugins_words(tmp_path, capsys):
    """Issue 27, row 4: what was expected and what the file is, not torch's text about its serialization."""
    from audiocraft_mmd.cli import main
    from audiocraft_mmd.models.checkpoint_files import read_checkpoint
    notes = tmp_path / 'notes.txt'
    notes.write_text('my codec is at /models/codec.th\n')
    before = _tree_digest(tmp_path)
    assert main(['dependence', '--model', str(notes), '--manifest', str(tmp_path / 'manifest')]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {notes.resolve()} is not a readable AudioCraft checkpoint: it is a text file "
                          "(first line 'my codec is at /models/codec.th'); expected //sig/SIG (a Dora XP), ")
    assert '_use_new_zipfile_serialization' not in err and len(err.strip().splitlines()) == 1
    soundfile.write(tmp_path / 'a.wav', _tone(1.), SR)
    (tmp_path / 'empty.th').write_bytes(b'')
    with zipfile.ZipFile(tmp_path / 'archive.zip', 'w') as archive:
        archive.writestr('notes.txt', 'hello')
    torch.save({'w': torch.ones(100)}, tmp_path / 'legacy.th', _use_new_zipfile_serialization=False)
    torch.save({'w': torch.ones(100)}, tmp_path / 'whole.th')
    (tmp_path / 'cut.th').write_bytes((tmp_path / 'whole.th').read_bytes()[:300])
    before = _tree_digest(tmp_path)
    for name, found in (('a.wav', 'it is a WAV audio file'), ('empty.th', 'it is empty (0 bytes)'),
                        ('archive.zip', 'it is a zip archive, not a torch file (no data.pkl inside)'),
                        ('legacy.th', 'it is a pickle, or a torch file in the legacy format'),
                        ('cut.th', 'it is a truncated or corrupt torch file (BadZipFile: ')):
        with pytest.raises(ConfigurationError) as info:
            read_checkpoint(tmp_path / name, 'a checkpoint.th')
        assert str(info.value).startswith(f"{tmp_path / name} is not a readable AudioCraft checkpoint: {found}"), name
        assert str(info.value).endswith('; expected a checkpoint.th.') and 'torch.save(' not in str(info.value)
    assert _tree_digest(tmp_path) == before


def _float_wav(path: Path, seconds: float, bad: tp.Optional[float] = None, at: float = 0.) -> Path:
    """A float WAV tone of ``seconds`` s; with ``bad`` (NaN or Inf), 10 such samples from ``at`` s."""
    wav = _tone(seconds)
    if bad is not None:
        wav[int(at * SR):int(at * SR) + 10] = bad
    soundfile.write(path, wav, SR, subtype='FLOAT')
    return path


@pytest.fixture(scope='module')
def non_finite_manifest(tmp_path_factory):
    """Issue 26, rows 1-3: a manifest of a good float WAV, one with NaN samples at 1.3 s (between the short reads),
    one with Inf samples at 0.2 s, and a good 2 s file listed with duration 100. Returns (manifest, audio_dir)."""
    from audiocraft_mmd.data import write_manifest
    root = tmp_path_factory.mktemp('non_finite')
    audio = root / 'audio'
    audio.mkdir()
    _float_wav(audio / 'a_good.wav', 3.)
    _float_wav(audio / 'b_nan.wav', 3., float('nan'), at=1.3)
    _float_wav(audio / 'c_inf.wav', 3., float('inf'), at=0.2)
    _float_wav(audio / 'd_long.wav', 2.)
    manifest = write_manifest(audio, root / 'train')
    entries = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert entries[3]['duration'] == 2.0  # the writer stores the header's duration
    entries[3]['duration'] = 100.0
    manifest.write_text(''.join(json.dumps(entry) + '\n' for entry in entries))
    return manifest, audio


NON_FINITE_BAD = {
    2: 'b_nan.wav: holds NaN samples (first at 1.30 s); only finite samples can be trained on',
    3: 'c_inf.wav: holds Inf samples (first at 0.20 s); only finite samples can be trained on',
    4: 'd_long.wav: the manifest gives duration 100 s but the file lasts 2.000 s (its header); they must agree '
       'within 0.1 s'}


def test_nan_inf_samples_and_a_wrong_duration_stop_the_run_before_training(non_finite_manifest, data_overrides):
    """Issue 26, rows 1-3: each trained (NaN, Inf) or stopped on an AssertionError traceback inside audiocraft's
    reader (the duration) before; now the file check names the file, its manifest line and what would work."""
    from audiocraft_mmd.train import get_solver, main
    manifest, audio = non_finite_manifest
    check = check_manifest(manifest)
    assert {b.line: f"{Path(b.path).name}: {b.reason}" for b in check.bad} == NON_FINITE_BAD
    assert check_audio_file(audio / 'd_long.wav', duration=2.0 + 0.09) is None  # a rounded duration passes
    argv = [DEBUG_SOLVER, *data_overrides, f'datasource.train={manifest.parent}']
    before = _tree_digest(manifest.parent, audio)
    with pytest.raises(ConfigurationError) as info:
        get_solver(main.get_xp(argv).cfg, xp_folder=manifest.parent.parent / 'xp')
    lines = str(info.value).splitlines()
    assert lines[0] == (f"datasource.train: 3 of the 4 files listed in {manifest} cannot be trained on (AudioCraft "
                        "would silently train on other files instead):")
    assert lines[1:4] == [f"  line {line}: {audio / reason}" for line, reason in NON_FINITE_BAD.items()]
    assert lines[4].startswith("Fix or remove them and rewrite the manifest (`audiocraft-mmd manifest AUDIO_DIR "
                               "OUT_DIR`), or pass datasource.skip_bad_files=true")
    assert _tree_digest(manifest.parent, audio) == before and not (manifest.parent.parent / 'xp').exists()


def test_a_non_finite_loss_stops_at_its_step_and_keeps_the_last_checkpoint(data_overrides, monkeypatch):
    """Issue 26, row 4: Inf audio reaching a training step (epoch 2, step 2; the macro-batch's MMD step too) stops
    the run before its optimizer step, naming the step and the last good checkpoint, which stays as it was."""
    from test_compression_mmd_solver import built_solver
    from audiocraft_mmd.errors import NonFiniteLossError
    with built_solver(*data_overrides, 'optim.epochs=2', 'optim.updates_per_epoch=2', 'mmd.num_batches=2',
                      'seed=26') as solver:
        original, seen = solver.run_step, {}

        def run_step(idx, batch, metrics):
            if solver.is_training and solver.epoch == 2 and idx == 1:
                seen['checkpoints'] = _tree_digest(solver.folder, pattern='checkpoint*')
                seen['model'] = [p.detach().clone() for p in solver.model.parameters()]
                batch = batch.clone()
                batch[0, :, :100] = float('inf')
            return original(idx, batch, metrics)

        monkeypatch.setattr(solver, 'run_step', run_step)
        with pytest.raises(NonFiniteLossError) as info:
            solver.run()
        checkpoint = solver.folder / 'checkpoint.th'
        message = str(info.value)
        assert message.startswith("training stopped at epoch 2, step 2 of 2 (update 4): non-finite values before the "
                                  "optimizer step (")
        assert 'g_loss=nan' in message and 'mmd=nan' in message and len(message.splitlines()) == 1
        assert message.endswith(f"nothing was saved and the last good checkpoint is {checkpoint} (epoch 1), which "
                                "rerunning the same command resumes from. Look for NaN or Inf samples in the "
                                "training audio, or lower optim.lr.")
        assert seen['checkpoints'] and _tree_digest(solver.folder, pattern='checkpoint*') == seen['checkpoints']
        assert all(torch.equal(p, q) for p, q in zip(solver.model.parameters(), seen['model']))  # no optimizer step


def test_a_diverging_run_prints_one_line_and_saves_nothing(data_overrides):
    """Issue 26, row 4 through Dora: a learning rate of 1e38 turns the second step's loss non-finite."""
    argv = [DEBUG_SOLVER, *data_overrides, 'optim.epochs=1', 'optim.updates_per_epoch=3', 'mmd.num_batches=2',
            'optim.lr=1e38']
    proc = run_dora('run', *argv, check=False)
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: training stopped at epoch 1, step 2 of 3 (update 2): non-finite values before "
                           "the optimizer step ("), last
    assert last.endswith("nothing was saved and no checkpoint was saved yet (checkpoint.th does not exist). Look for "
                         "NaN or Inf samples in the training audio, or lower optim.lr.")
    assert not list(xp_folder(argv).glob('checkpoint*')) and not (xp_folder(argv) / 'history.json').exists()
