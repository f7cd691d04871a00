"""MusicGen-MMD: the LM solver, its start-of-run checks, export, pretrained-style loading and generation."""
import hashlib
import json
import subprocess

import pytest
import torch

from conftest import REPO, VENV_BIN, read_history, run_dora, xp_folder

LM_SOLVER = 'solver=musicgen/mmd_debug'
LM_TRAIN_ARGS = ['optim.epochs=2', 'optim.updates_per_epoch=10']


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / 'audiocraft-mmd'), *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='session')
def codec_sig(trained_xp):
    return trained_xp[0].name


@pytest.fixture(scope='session')
def lm_xp(codec_sig, data_overrides):
    """`dora run solver=musicgen/mmd_debug` on the tokens of the debug EnCodec-MMD. Returns its folder."""
    argv = [LM_SOLVER, f'compression_model_checkpoint=//sig/{codec_sig}', *data_overrides, *LM_TRAIN_ARGS]
    run_dora('run', *argv)
    return xp_folder(argv)


@pytest.fixture(scope='session')
def exported(lm_xp, codec_sig, tmp_path_factory):
    """`audiocraft-mmd export --compression //sig/CODEC --lm //sig/LM OUT_DIR`. Returns OUT_DIR."""
    out = tmp_path_factory.mktemp('export') / 'musicgen_mmd_debug'
    proc = cli('export', '--compression', f'//sig/{codec_sig}', '--lm', f'//sig/{lm_xp.name}', str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'MusicGen.get_pretrained' in proc.stdout
    return out


def compose(*argv: str):
    from audiocraft_mmd.train import main
    return main.get_xp(list(argv)).cfg


def test_lm_trains_on_the_codec_tokens(lm_xp):
    history = read_history(lm_xp)
    assert len(history) == 2
    assert history[1]['train']['ce'] < history[0]['train']['ce']  # it learns
    assert {'ce_q1', 'ce_q4'} <= set(history[0]['valid'])  # 4 codebooks, each with its cross-entropy
    assert (lm_xp / 'checkpoint.th').is_file()


@pytest.mark.smoke
def test_export_loads_in_stock_audiocraft_and_generates(exported):
    from audiocraft.models import MusicGen
    from audiocraft_mmd.models import MusicGenMMD
    assert {p.name for p in exported.iterdir()} == {'state_dict.bin', 'compression_state_dict.bin', 'export.json'}
    stock = MusicGen.get_pretrained(str(exported), device='cpu')
    ours = MusicGenMMD.get_pretrained(str(exported), device='cpu')
    assert ours.sample_rate == stock.sample_rate == 16000 and ours.frame_rate == 50
    assert ours.generation_params['top_k'] == 32 and ours.generation_params['cfg_coef'] == 3.0  # the LM's config
    ours.set_generation_params(duration=1.5)
    stock.set_generation_params(duration=1.5, top_k=32)
    prompts = ['low register melody of harmonic tones', 'high register melody of harmonic tones']
    torch.manual_seed(0)
    wav = ours.generate(prompts)
    torch.manual_seed(0)
    wav_stock = stock.generate(prompts)
    assert wav.shape == (2, 1, 24000)  # 1.5 s at 16 kHz
    assert torch.isfinite(wav).all() and wav.std() > 1e-3 and wav.abs().max() <= 1.0 + 1e-4
    assert torch.equal(wav, wav_stock)  # same weights, same sampling: the export is what stock audiocraft loads


@pytest.mark.smoke
def test_get_pretrained_from_the_lm_sig_matches_the_export(lm_xp, exported):
    from audiocraft_mmd.models import MusicGenMMD
    from_sig = MusicGenMMD.get_pretrained(f'//sig/{lm_xp.name}', device='cpu')
    from_dir = MusicGenMMD.get_pretrained(str(exported), device='cpu')
    for model in (from_sig, from_dir):
        model.set_generation_params(duration=0.5)
    torch.manual_seed(1)
    a = from_sig.generate(['low register melody of harmonic tones'], return_tokens=True)[1]
    torch.manual_seed(1)
    b = from_dir.generate(['low register melody of harmonic tones'], return_tokens=True)[1]
    assert a.shape == (1, 4, 25) and torch.equal(a, b)
    with pytest.raises(ValueError, match=r'top_k=250 must be in \[1, 64\]'):
        from_dir.set_generation_params(top_k=250)


def test_export_never_overwrites_silently(lm_xp, exported):
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in exported.iterdir()}
    proc = cli('export', '--lm', f'//sig/{lm_xp.name}', str(exported))
    assert proc.returncode == 2 and 'already holds an export' in proc.stderr and '--force' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert before == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in exported.iterdir()}


def test_export_defaults_to_the_lms_tokenizer_and_refuses_another(lm_xp, codec_sig, baseline_xp, tmp_path):
    from audiocraft_mmd.errors import ConfigurationError, MissingDataError
    from audiocraft_mmd.export import export_musicgen
    result = export_musicgen(f'//sig/{lm_xp.name}', tmp_path / 'a', log=lambda _: None)
    provenance = json.loads((tmp_path / 'a' / 'export.json').read_text())
    assert provenance['compression'] == f'//sig/{codec_sig}' and result.lm_params > 0
    with pytest.raises(ConfigurationError, match='not the tokenizer the LM was trained on'):
        export_musicgen(f'//sig/{lm_xp.name}', tmp_path / 'b', compression=f'//sig/{baseline_xp.name}')
    assert not (tmp_path / 'b').exists()
    # the same tokenizer under another name (its exported file) is accepted; --force replaces an export
    export_musicgen(f'//sig/{lm_xp.name}', tmp_path / 'a', compression=str(tmp_path / 'a'), overwrite=True,
                    log=lambda _: None)
    from audiocraft_mmd.models import read_lm_package
    from audiocraft_mmd.models.compression import locate_compression_model
    with pytest.raises(ConfigurationError, match="'compression_mmd' XP, not of a MusicGen LM"):
        read_lm_package(tmp_path / 'a' / 'compression_state_dict.bin')  # the two exported files swapped
    with pytest.raises(ConfigurationError, match="'musicgen_mmd' XP, not of a compression model"):
        locate_compression_model(tmp_path / 'a' / 'state_dict.bin')
    with pytest.raises(MissingDataError, match='No MusicGen LM at //sig/deadbeef'):
        export_musicgen('//sig/deadbeef', tmp_path / 'c')
    with pytest.raises(ConfigurationError, match="checkpoint of a 'compression_mmd' XP, not of a MusicGen LM"):
        export_musicgen(f'//sig/{codec_sig}', tmp_path / 'c')


def test_lm_trains_on_an_exported_tokenizer(exported, data_overrides):
    """compression_model_checkpoint may be an export folder: the solver hands it to audiocraft as //pretrained/."""
    from audiocraft_mmd import train
    xp = train.main.get_xp([LM_SOLVER, f'compression_model_checkpoint={exported}', *data_overrides])
    with xp.enter():
        solver = train.get_solver(xp.cfg)
    assert solver.cfg.compression_model_checkpoint.startswith('//pretrained/')
    assert solver.compression_model.cardinality == 64 and solver.compression_model.num_codebooks == 4


def test_tokenizer_problems_are_named_at_start(codec_sig, data_overrides):
    from audiocraft_mmd.errors import ConfigurationError, MissingDataError
    from audiocraft_mmd.solvers.musicgen_mmd import check_schedule, check_tokenizer
    with pytest.raises(ConfigurationError, match='compression_model_checkpoint is not set'):
        check_tokenizer(compose(LM_SOLVER))
    with pytest.raises(MissingDataError, match='compression_model_checkpoint=//sig/deadbeef: No compression model'):
        check_tokenizer(compose(LM_SOLVER, 'compression_model_checkpoint=//sig/deadbeef'))
    with pytest.raises(ConfigurationError, match=r'transformer_lm.card=128 but the tokenizer has 64.*'
                                                 r'transformer_lm.n_q=8 but the tokenizer has 4'):
        check_tokenizer(compose(LM_SOLVER, f'compression_model_checkpoint=//sig/{codec_sig}',
                                'transformer_lm.card=128', 'transformer_lm.n_q=8'))
    with pytest.raises(ConfigurationError, match=r'schedule.cosine.warmup=5 must be below .* = 4'):
        check_schedule(compose(LM_SOLVER, 'optim.epochs=2', 'optim.updates_per_epoch=2'))
    proc = run_dora('run', LM_SOLVER, f'compression_model_checkpoint=//sig/{codec_sig}', 'sample_rate=32000',
                    *data_overrides, check=False)
    assert proc.returncode != 0 and 'sample_rate=32000 but the tokenizer has 16000' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_lm_warns_when_its_pattern_is_not_the_one_its_tokenizer_was_trained_for(codec_sig, caplog):
    from audiocraft_mmd.solvers.musicgen_mmd import check_tokenizer
    tokenizer = f'compression_model_checkpoint=//sig/{codec_sig}'  # trained with mmd.alignment=delay
    with caplog.at_level('WARNING', logger='audiocraft_mmd.solvers.musicgen_mmd'):
        check_tokenizer(compose(LM_SOLVER, tokenizer))  # the delay pattern: it matches
        assert not caplog.records
        check_tokenizer(compose(LM_SOLVER, tokenizer, 'codebooks_pattern.modeling=parallel'))
    assert len(caplog.records) == 1
    assert ('trained with mmd.alignment=delay' in caplog.text
            and 'this LM uses codebooks_pattern.modeling=parallel' in caplog.text)


def test_missing_metric_weights_fail_before_training(codec_sig, data_overrides, tmp_path, monkeypatch):
    """FAD, KL and CLAP weights are checked at start, each named by file and config key."""
    argv = [LM_SOLVER, f'compression_model_checkpoint=//sig/{codec_sig}', *data_overrides,
            'evaluate.metrics.fad=true', 'evaluate.metrics.kld=true', 'evaluate.metrics.text_consistency=true']
    monkeypatch.setenv('AUDIOCRAFT_REFERENCE_DIR', str(tmp_path / 'reference'))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    proc = run_dora('run', *argv, check=False)
    err = proc.stderr
    assert proc.returncode != 0 and 'Traceback' not in err, err[-3000:]
    for expected in ['metrics.fad.tf.bin is not set', 'metrics.fad.tf.model_path=//reference/fad/vggish_model.ckpt',
                     str(tmp_path / 'reference' / 'fad' / 'vggish_model.ckpt'),
                     str(tmp_path / 'torch' / 'hub' / 'checkpoints' / 'passt-s-f128-20sec-p16-s10-ap.474-swa.pt'),
                     'metrics.kld.passt.pretrained_length=20',
                     'metrics.text_consistency.clap.model_path=//reference/clap/music_audioset_epoch_15_esc_90.14.pt',
                     'docs/MUSICGEN_MMD.md']:
        assert expected in err, err[-3000:]
    assert not (xp_folder(argv) / 'checkpoint.th').exists()  # stopped before the first epoch


def test_metric_weights_in_place_pass_the_check(tmp_path, monkeypatch):
    from audiocraft_mmd.errors import MissingDataError
    from audiocraft_mmd.metrics.generation_weights import check_generation_metric_weights
    reference = tmp_path / 'reference'
    (reference / 'fad').mkdir(parents=True)
    (reference / 'fad' / 'vggish_model.ckpt').write_bytes(b'weights')
    (tmp_path / 'google-research' / 'frechet_audio_distance').mkdir(parents=True)
    monkeypatch.setenv('AUDIOCRAFT_REFERENCE_DIR', str(reference))
    cfg = compose(LM_SOLVER, 'evaluate.metrics.fad=true', f'metrics.fad.tf.bin={tmp_path / "google-research"}',
                  'datasource.evaluate=/some/egs')
    check_generation_metric_weights(cfg)  # nothing missing
    cfg.datasource.evaluate = None
    with pytest.raises(MissingDataError, match='datasource.evaluate is null'):
        check_generation_metric_weights(cfg)


def test_paper_lm_config_values():
    cfg = compose('solver=musicgen/mmd', 'compression_model_checkpoint=//sig/abc')
    assert cfg.solver == 'musicgen_mmd' and (cfg.sample_rate, cfg.channels) == (32000, 1)
    assert (cfg.transformer_lm.dim, cfg.transformer_lm.num_layers, cfg.transformer_lm.num_heads) == (1024, 24, 16)
    assert (cfg.transformer_lm.n_q, cfg.transformer_lm.card) == (4, 2048)
    assert cfg.codebooks_pattern.modeling == 'delay' and list(cfg.codebooks_pattern.delay.delays) == [0, 1, 2, 3]
    assert cfg.conditioners.description.model == 't5' and cfg.conditioners.description.t5.name == 't5-base'
    assert (cfg.classifier_free_guidance.training_dropout, cfg.classifier_free_guidance.inference_coef) == (0.2, 3.0)
    assert (cfg.optim.optimizer, list(cfg.optim.adam.betas)) == ('adamw', [0.9, 0.95])
    assert (cfg.schedule.lr_scheduler, cfg.schedule.cosine.warmup) == ('cosine', 4000)
    assert (cfg.optim.ema.use, cfg.optim.ema.decay) == (True, 0.99)
    assert (cfg.generate.lm.use_sampling, cfg.generate.lm.top_k, cfg.generate.lm.temp) == (True, 250, 1.0)
    assert (cfg.dataset.segment_duration, cfg.dataset.batch_size) == (30, 192)
    assert cfg.optim.epochs * cfg.optim.updates_per_epoch == 1_000_000


def test_lm_grid_points_each_lm_at_its_codec_xp():
    from conftest import DORA_DIR
    codecs = run_dora('grid', 'mmd.encodec_32khz', '--dry_run', '--init').stdout
    proc = run_dora('grid', 'mmd.musicgen_small', '--dry_run', '--init')
    out = proc.stdout
    rows = [line for line in out.splitlines() if 'tokenizer=' in line]
    assert len(rows) == 4, out
    for label in ['[mmd 0 delay]', '[mmd 1000 parallel]', '[mmd 1000 delay]']:  # named by the codec XP
        assert any(label in row for row in rows), out
    flatten = [row for row in rows if 'flatten' in row]
    assert len(flatten) == 1 and '[mmd 0 delay]' in flatten[0]
    lm_argvs = []
    for argv_file in (DORA_DIR / 'xps').glob('*/.argv.json'):  # XPs the tests only composed have none
        argv = json.loads(argv_file.read_text())
        if 'solver=musicgen/mmd' in argv:
            lm_argvs.append(argv)
    tokenizers = {a.split('//sig/')[1].strip('"') for argv in lm_argvs for a in argv
                  if a.startswith('compression_model_checkpoint=')}
    assert len(tokenizers) == 3 and all(sig in codecs for sig in tokenizers)  # codec XPs of the codec grid


def test_generation_benchmark_counts_k_times_more_steps_for_flatten(tmp_path):
    out = tmp_path / 'bench.json'
    proc = subprocess.run([str(VENV_BIN / 'python'), 'benchmarks/generation.py', '--duration', '0.4', '--scale',
                           'xsmall', '--repeats', '1', '--json', str(out)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result['frames'] == 20
    assert result['rows']['delay']['steps'] == 20 + 3  # T + K - 1
    assert result['rows']['flatten']['steps'] == 4 * 20  # K T
    assert result['rows']['delay']['params'] == result['rows']['flatten']['params']
    assert result['rows']['delay']['tokens_shape'] == result['rows']['flatten']['tokens_shape'] == [1, 4, 20]
    assert 'flatten / delay' in proc.stdout


def test_pattern_mismatch_compares_the_groups_of_codes_each_pattern_predicts_together():
    """Read from both patterns (`audiocraft_mmd.alignment.code_groups`), not from their names."""
    from omegaconf import OmegaConf
    from audiocraft_mmd.solvers.musicgen_mmd import pattern_mismatch

    def lm(pattern):
        return OmegaConf.create({'transformer_lm': {'n_q': 4}, 'codebooks_pattern': pattern})

    def codec(alignment, pattern=None):
        return OmegaConf.create({'mmd': {'weight': 1e3, 'alignment': alignment, 'pattern': pattern}})

    coarse = {'modeling': 'coarse_first', 'coarse_first': {'delays': [0, 0, 0]}}
    assert pattern_mismatch(lm(coarse), codec('pattern', {'modeling': 'coarse_first'})) is None  # default delays
    assert pattern_mismatch(lm({'modeling': 'delay', 'delay': {'delays': [0, 1, 2, 3]}}), codec('delay')) is None
    assert pattern_mismatch(lm({'modeling': 'parallel'}), codec('pattern', {'modeling': 'parallel'})) is None
    message = pattern_mismatch(lm({'modeling': 'delay', 'delay': {'delays': [0, 1, 2, 3]}}),
                               codec('pattern', {'modeling': 'coarse_first'}))
    assert message is not None and 'z1[t] z2[t] z3[t] predicted in one step' in message
    assert 'this LM uses codebooks_pattern.modeling=delay with delays [0, 1, 2, 3]' in message
    assert 'one code per step' in pattern_mismatch(lm({'modeling': 'musiclm'}), codec('delay'))
    unweighted = OmegaConf.merge(codec('delay'), {'mmd': {'weight': 0}})
    assert unweighted.mmd.weight == 0 and pattern_mismatch(lm({'modeling': 'musiclm'}), unweighted) is None
