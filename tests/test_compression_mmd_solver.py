"""The compression MMD solver, built in-process from the plugin's Hydra configs."""
import contextlib

import pytest
import torch

from conftest import DEBUG_SOLVER
from audiocraft_mmd.solvers import CompressionMMDSolver, MMDConfigError


@contextlib.contextmanager
def built_solver(*overrides: str):
    """Yield the solver the plugin's Dora main would build for `overrides`, inside its XP."""
    from audiocraft_mmd import train
    xp = train.main.get_xp([DEBUG_SOLVER, *overrides])
    with xp.enter():
        yield train.get_solver(xp.cfg)


def build(*overrides: str):
    with built_solver(*overrides) as solver:
        return solver


@pytest.fixture
def solver(data_overrides):
    with built_solver(*data_overrides, 'optim.updates_per_epoch=6', 'mmd.num_batches=4') as solver:
        yield solver


def _audio(batch: int = 8, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(batch, 1, 16000, generator=generator)


def test_builds_plugin_solver(solver):
    assert isinstance(solver, CompressionMMDSolver)
    assert solver.model.quantizer.total_codebooks == 4
    assert solver.mmd_cfg.num_batches == 4 and solver.mmd_cfg.alignment == 'delay'


def test_mmd_step_trains_encoder_only_and_leaves_codebooks(solver):
    solver.model.train()
    solver.model(_audio())  # first forward: k-means init of the codebooks, as in training
    solver.optimizer.zero_grad()
    buffers = {name: b.clone() for name, b in solver.model.quantizer.named_buffers()}
    solver.mmd_rng.manual_seed(0)
    metrics = solver.mmd_step(_audio(16, seed=1))
    assert torch.isfinite(metrics['mmd']) and metrics['mmd'] != 0  # unbiased: may be slightly negative
    assert metrics['mmd_samples'] == 16 * (50 - 3)
    for name, value in solver.model.quantizer.named_buffers():
        assert torch.equal(value, buffers[name]), f"codebook buffer {name} moved in the MMD pass"
    encoder_grads = [p.grad for p in solver.model.encoder.parameters()]
    assert all(g is not None for g in encoder_grads) and any(g.abs().sum() > 0 for g in encoder_grads)
    assert all(p.grad is None for p in solver.model.decoder.parameters())


def test_gradient_checkpointing_gives_the_same_gradient(data_overrides):
    grads = []
    for flag in ('true', 'false'):
        torch.manual_seed(0)
        solver = build(*data_overrides, f'mmd.gradient_checkpointing={flag}')
        solver.model.train()
        solver.model(_audio())
        solver.optimizer.zero_grad()
        solver.mmd_rng.manual_seed(0)
        solver.mmd_step(_audio(16, seed=1))
        grads.append(torch.cat([p.grad.flatten() for p in solver.model.encoder.parameters()]))
    torch.testing.assert_close(grads[0], grads[1])


def test_weight_zero_measures_without_gradient(data_overrides):
    solver = build(*data_overrides, 'mmd.weight=0')
    solver.model.train()
    solver.model(_audio())
    solver.optimizer.zero_grad()
    metrics = solver.mmd_step(_audio(16))
    assert metrics['mmd'] != 0
    assert all(p.grad is None for p in solver.model.parameters())


@pytest.mark.filterwarnings("ignore:MMD kernel .* sees no signal")  # untrained codec on noise: constant codes
def test_macro_batch_schedule_within_an_epoch(solver):
    """6 updates, macro-batches of 4: the MMD runs after batch 4 and closes the partial one at batch 6."""
    sizes = []
    original = solver.mmd_step

    def recording(audio):
        sizes.append((solver.macro_batch.completed, audio.shape[0]))
        return original(audio)

    solver.mmd_step = recording
    metrics = solver.run_stage('train', solver.train)
    assert sizes == [(1, 32), (2, 16)]
    assert len(solver.macro_batch) == 0
    assert metrics['mmd'] != 0 and 'mmd_time' in metrics
    assert solver.state_dict()['macro_batch'] == {'completed': 2}


@pytest.mark.parametrize('override, message', [
    ('mmd.weight=-1', r'mmd\.weight must be a finite number >= 0'),
    ('mmd.kernel=gaussian', r'mmd\.kernel must be one of multiscale_gaussian'),
    ('mmd.alignment=flatten', r'mmd\.alignment must be one of delay, parallel'),
    ('mmd.num_batches=0', r'mmd\.num_batches must be an integer >= 1'),
    ('mmd.stream=codes', r'mmd\.stream must be one of quantized, residual'),
    ('mmd.frames_per_item=0', r'mmd\.frames_per_item must be null or an integer >= 1'),
    ('+mmd.colour=3', r'Unknown key mmd\.colour; valid keys: mmd\.alignment'),
    ('mmd.kernel_params={sigma:-2}', r"mmd\.kernel_params .* do not fit kernel"),
    ('rvq.n_q=1', r'rvq\.n_q=1; use rvq\.n_q >= 2'),
])
def test_bad_config_is_rejected_naming_the_key(data_overrides, override, message):
    with pytest.raises(MMDConfigError, match=message):
        build(*data_overrides, override)


def test_delay_with_clips_shorter_than_k_frames(data_overrides):
    with pytest.raises(MMDConfigError, match='reads codes 3 frames apart: it needs clips of at least 4 frames'):
        build(*data_overrides, 'dataset.segment_duration=0.06')


def test_macro_batch_with_fewer_than_two_samples(data_overrides):
    with pytest.raises(MMDConfigError, match='the MMD needs at least 2'):
        build(*data_overrides, 'dataset.batch_size=1', 'mmd.num_batches=1', 'mmd.frames_per_item=1')


def test_missing_dataset_is_named(dataset):
    with pytest.raises(ValueError, match=r'No dataset for datasource\.train: pass dset=audio/<name>'):
        build()
    with pytest.raises(FileNotFoundError, match=r'datasource\.valid=/nonexistent: no manifest found'):
        build(f'datasource.train={dataset["train"]}', 'datasource.valid=/nonexistent')


def test_pattern_alignment_trains_and_measures_the_codes_its_lm_predicts_together(data_overrides):
    """mmd.alignment=pattern with unroll flattening [0, 0, 1, 1]: one MMD per group of codes, and the
    codec meter reports the dependence within those groups next to delay and parallel."""
    from audiocraft_mmd.metrics.codec import CodecMeter
    pattern = ['mmd.alignment=pattern', 'mmd.pattern.modeling=unroll', 'mmd.pattern.unroll.flattening=[0,0,1,1]']
    solver = build(*data_overrides, *pattern)
    assert [g.codebooks for g in solver.mmd_loss.groups(4)] == [(0, 1), (2, 3)]
    solver.model.train()
    solver.model(_audio())
    solver.optimizer.zero_grad()
    solver.mmd_rng.manual_seed(0)
    metrics = solver.mmd_step(_audio(16, seed=1))
    assert torch.isfinite(metrics['mmd']) and metrics['mmd_samples'] == 16 * 50
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in solver.model.encoder.parameters())
    meter = CodecMeter(solver.model, solver.cfg, macro_clips=4)
    meter.update(_audio(8, seed=2))
    measured = meter.result()
    assert set(measured.dependence) == {'delay', 'parallel', 'pattern'}
    assert [r.codebooks for r in measured.dependence['pattern'].results] == [(0, 1), (2, 3)]
    assert 'tc_percent_pattern' in measured.to_metrics()
    with pytest.raises(MMDConfigError, match=r"mmd.alignment=pattern with mmd.pattern=.*musiclm.*one code per step"):
        build(*data_overrides, 'mmd.alignment=pattern', 'mmd.pattern.modeling=musiclm')
