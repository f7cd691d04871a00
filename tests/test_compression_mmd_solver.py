"""The compression MMD solver, built in-process from the plugin's Hydra configs."""
import contextlib

import pytest
import torch

from conftest import DEBUG_SOLVER
from audiocraft_mmd.losses import MMDConfigError
from audiocraft_mmd.solvers import CompressionMMDSolver


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


def test_a_macro_batch_of_one_from_scratch_waits_for_the_codebooks_init(data_overrides):
    """mmd.num_batches=1 on a fresh model: the first step's macro-batch comes before the quantizer's k-means init
    (its own forward), so that step has no MMD; every later step has one, and the shrinkage watch's scale-free
    MMD is logged on the check cadence."""
    with built_solver(*data_overrides, 'optim.updates_per_epoch=3', 'mmd.num_batches=1') as solver:
        sizes = []
        original = solver.mmd_step

        def recording(audio):
            sizes.append(audio.shape[0])
            return original(audio)

        solver.mmd_step = recording
        metrics = solver.run_stage('train', solver.train)
    assert sizes == [8, 8]  # steps 2 and 3
    assert solver.state_dict()['macro_batch'] == {'completed': 2}
    assert metrics['mmd'] != 0 and 'mmd_scale_free' in metrics  # the first MMD call refreshes the check


@pytest.mark.parametrize('override, message', [
    ('mmd.weight=-1', r'mmd\.weight must be a finite number >= 0'),
    ('mmd.mode=every_step', r'mmd\.mode must be one of macro_batch, bank'),
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


def test_continue_from_without_an_encodec_stops_before_anything_is_built(data_overrides, tmp_path):
    from audiocraft_mmd.errors import ConfigurationError, MissingDataError
    corrupt = tmp_path / 'start.th'
    corrupt.write_bytes(b'not a checkpoint')
    with pytest.raises(ConfigurationError, match=f'continue_from=//pretrained/{corrupt}: .*{corrupt}'):
        build(*data_overrides, f'continue_from=//pretrained/{corrupt}')
    with pytest.raises(MissingDataError, match=r'continue_from=//sig/0000000: No compression model at //sig/0000000'):
        build(*data_overrides, 'continue_from=//sig/0000000')


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


BANK = ['mmd.mode=bank']


def _encoder_grads(solver) -> torch.Tensor:
    return torch.cat([torch.zeros_like(p).flatten() if p.grad is None else p.grad.flatten()
                      for p in solver.model.encoder.parameters()])


def test_bank_step_adds_the_mmd_gradient_once_to_the_regular_backward_and_leaves_codebooks(data_overrides):
    """bank_step takes the encoder output of the regular forward: it moves no codebook state and gives the
    encoder nothing itself; the hook it leaves on the output adds mmd.weight x the gradient of the MMD over the
    bank and the batch, once (the regular step backpropagates twice through the output: penalty, balancer)."""
    import copy
    solver = build(*data_overrides, *BANK)
    solver.model.train()
    solver.model(_audio())  # k-means init
    for seed in (1, 2):  # two batches in the bank (mmd.num_batches=4 in the debug codec)
        solver.bank_step(solver._encode(_audio(seed=seed)).detach(), {})
    assert len(solver.sample_bank) == 2
    bank = copy.deepcopy(solver.sample_bank)
    solver.optimizer.zero_grad()
    buffers = {name: b.clone() for name, b in solver.model.quantizer.named_buffers()}
    emb = solver._encode(_audio(seed=3))
    solver.mmd_rng.manual_seed(0)
    metrics: dict = {}
    adder = solver.bank_step(emb, metrics)
    for name, value in solver.model.quantizer.named_buffers():
        assert torch.equal(value, buffers[name]), f"codebook buffer {name} moved in the MMD pass"
    assert all(p.grad is None for p in solver.model.parameters())  # no encoder pass of its own
    assert metrics['mmd_samples'] == 3 * 8 * (50 - 3) and torch.isfinite(metrics['mmd']) and metrics['mmd'] != 0
    assert len(solver.sample_bank) == 3 and adder is not None
    probe = 1e-3 * torch.randn(emb.shape, generator=torch.Generator().manual_seed(4))  # a regular loss's gradient
    (emb * probe).sum().backward(retain_graph=True)  # the first backward through the output: the MMD's joins it
    (emb * probe).sum().backward(retain_graph=True)  # a second one (balancer's after penalty's): it does not join
    with_mmd = _encoder_grads(solver)
    solver.optimizer.zero_grad()
    (emb * probe).sum().backward(retain_graph=True)
    (emb * probe).sum().backward()
    regular = _encoder_grads(solver)
    solver.optimizer.zero_grad()
    solver.mmd_rng.manual_seed(0)
    direct = solver.mmd_cfg.weight * bank(solver.emb_vectors(solver._encode(_audio(seed=3))), solver.mmd_rng)
    direct.backward()
    assert float(direct.detach()) == pytest.approx(solver.mmd_cfg.weight * float(metrics['mmd']), rel=1e-6)
    mmd_grad = _encoder_grads(solver)
    # float32 rounding of one backward of (regular + MMD) against two: relative to the largest gradient
    tolerance = 1e-5 * float(with_mmd.abs().max())
    assert float(mmd_grad.abs().max()) > 100 * tolerance  # the MMD's part (once or twice) is far above rounding
    torch.testing.assert_close(with_mmd, regular + mmd_grad, rtol=0, atol=tolerance)


def test_bank_step_with_pvq_dropout_uses_every_codebook_and_masks_the_dropped_ones_gradient(data_overrides):
    from audiocraft_mmd.quantization import dropout_gradient_mask
    solver = build(*data_overrides, *BANK, 'encodec.quantizer=pvq', 'pvq.q_dropout=true')
    solver.model.train()
    solver.model(_audio())
    emb = solver._encode(_audio(seed=1))
    solver.mmd_rng.manual_seed(0)
    keep = dropout_gradient_mask(8, 4, torch.Generator().manual_seed(0))  # the draw bank_step makes
    assert not keep.all()
    adder = solver.bank_step(emb, {})
    grad = adder.grad.reshape(8, 4, 8, -1)  # [B, K, D/K, T]: slice k of the latent is codebook k's
    assert (grad[~keep] == 0).all() and grad[keep].abs().sum() > 0


@pytest.mark.filterwarnings("ignore:MMD kernel .* sees no signal")  # untrained codec on noise: constant codes
def test_bank_mode_runs_the_mmd_at_every_step_of_a_train_stage(data_overrides):
    with built_solver(*data_overrides, *BANK, 'optim.updates_per_epoch=6', 'mmd.num_batches=4') as solver:
        assert not hasattr(solver, 'macro_batch')
        samples = []
        original = solver.bank_step

        def recording(emb, metrics):
            adder = original(emb, metrics)
            samples.append(metrics.get('mmd_samples'))
            return adder

        solver.bank_step = recording
        metrics = solver.run_stage('train', solver.train)
        # the first step of a fresh run initialises the codebooks (no MMD); then one MMD per step over the
        # current batch and up to mmd.num_batches - 1 = 3 earlier ones: 8 clips x 47 delay-aligned frames each
        assert samples == [None, 1 * 376, 2 * 376, 3 * 376, 4 * 376, 4 * 376]
        assert solver.state_dict()['sample_bank'] == {'steps': 5}
        assert len(solver.sample_bank) == 3
        assert metrics['mmd'] != 0 and metrics['mmd_time'] > 0


def test_paper_codec_solver_builds_in_bank_mode(data_overrides):
    solver = build(*data_overrides, 'solver=compression/encodec_mmd_32khz', *BANK, 'dataset.batch_size=2',
                   'device=cpu')
    assert solver.cfg.sample_rate == 32000 and solver.mmd_cfg.mode == 'bank'
    assert solver.sample_bank.num_batches == 32 and solver.mmd_loss.frames_per_item == 5


def test_bank_mode_needs_two_samples_per_batch(data_overrides):
    with pytest.raises(MMDConfigError, match=r'mmd\.mode=bank: one batch holds 1 sample'):
        build(*data_overrides, *BANK, 'dataset.batch_size=1', 'mmd.frames_per_item=1')


def test_bank_mode_run_and_resume_are_exact(data_overrides):
    """`dora run ... mmd.mode=bank` trains the debug codec; resumed from its epoch-1 checkpoint it ends
    bit-identical to the uninterrupted run (the bank restarts empty at each epoch, as a macro-batch)."""
    import shutil
    from conftest import TRAIN_ARGS, read_history, run_dora, xp_folder
    argv = [DEBUG_SOLVER, *data_overrides, *TRAIN_ARGS, *BANK]
    run_dora('run', *argv)
    folder = xp_folder(argv)
    resumed_argv = [*argv, 'label=resumed']
    resumed = xp_folder(resumed_argv)
    resumed.mkdir(parents=True, exist_ok=True)
    shutil.copy(folder / 'checkpoint_1.th', resumed / 'checkpoint.th')
    run_dora('run', *resumed_argv)
    history, reference = read_history(resumed), read_history(folder)
    assert len(reference) == 2 and reference[1]['train']['mmd'] != 0
    timings = ('duration', 'mmd_time')
    assert [{k: v for k, v in history[1]['train'].items() if k not in timings}] == \
        [{k: v for k, v in reference[1]['train'].items() if k not in timings}]
    state, uninterrupted = (torch.load(f / 'checkpoint.th', weights_only=False) for f in (resumed, folder))
    assert state['sample_bank'] == uninterrupted['sample_bank'] == {'steps': 15}  # 2 x 8 steps, the first none
    assert 'macro_batch' not in state
    for name, weight in uninterrupted['model'].items():
        assert torch.equal(state['model'][name], weight), name
