"""Several ranks on one CPU machine, over gloo: one MMD over all ranks (``mmd.gather``)."""
import math
import tempfile

import pytest
import torch
import torch.multiprocessing as mp

WORLD = 2


CASES = [dict(alignment='delay'), dict(alignment='parallel', scale='standardized', frames_per_item=None),
         dict(alignment='pattern', pattern={'modeling': 'unroll', 'unroll': {'flattening': [0, 0, 1, 1]}})]


def _tiny_codec():
    """AudioCraft's debug EnCodec (16 kHz, 4 RVQ codebooks), codebooks initialised by one training forward:
    the same model in every process."""
    from audiocraft.models.builders import get_debug_compression_model
    torch.manual_seed(0)
    model = get_debug_compression_model(sample_rate=16000)
    model.train()
    model(0.1 * torch.randn(4, 1, 16000, generator=torch.Generator().manual_seed(1)))
    return model.eval()


def _clips() -> torch.Tensor:
    """7 clips [7, 1, L]: an odd number, so the two ranks hold different counts."""
    return 0.1 * torch.randn(7, 1, 8000, generator=torch.Generator().manual_seed(3))


def _codes() -> torch.Tensor:
    """Integer codes of 7 clips [7, 4, 30] with 16 entries, dependent across codebooks."""
    first = torch.randint(0, 16, (7, 1, 30), generator=torch.Generator().manual_seed(4))
    noise = torch.randint(0, 16, (7, 4, 30), generator=torch.Generator().manual_seed(5))
    return torch.where(noise < 8, first.expand(7, 4, 30), noise)


def _single_rank(fn):
    """``fn()`` with one thread, as each spawned rank runs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn()
    finally:
        torch.set_num_threads(threads)


def _measure(model, clips: torch.Tensor):
    """A `CodecMeter` over ``clips`` in batches of 2, macro-batches of 2 clips."""
    from audiocraft_mmd.metrics.codec import CodecMeter
    meter = CodecMeter(model, macro_clips=2, seed=5, alignments=('delay', 'parallel'))
    for batch in clips.split(2):
        meter.update(batch)
    return meter.result()


def _rank(rank: int, init_file: str, codes: torch.Tensor, out: str) -> None:
    """Rank ``rank`` of WORLD: the MMD of each case with ``gather=True`` over its contiguous share of ``codes``,
    and a codec measured over its shard of the clips (clip i on rank i % WORLD, as flashy shards)."""
    from audiocraft_mmd.losses import MMDLoss, SampleBank
    from audiocraft_mmd.metrics import DependenceAccumulator
    torch.distributed.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=WORLD)
    try:
        results, banks = [], []
        for kwargs in CASES:
            share = codes.chunk(WORLD)[rank].clone().requires_grad_(True)
            loss = MMDLoss(gather=True, **kwargs)(share, torch.Generator().manual_seed(7))
            loss.backward()
            results.append({'loss': loss.detach(), 'grad': share.grad})
            banks.append(_bank_last_step(SampleBank(MMDLoss(gather=True, **kwargs), num_batches=2),
                                         [batch.chunk(WORLD)[rank] for batch in BANK_BATCHES]))
        torch.set_num_threads(1)  # the encoder's numerics as in the single-rank reference (see _single_rank)
        measured = _measure(_tiny_codec(), _clips()[rank::WORLD])
        accumulator = DependenceAccumulator(4, 16, alignment='delay')
        for batch in _codes()[rank::WORLD].split(2):  # clip i on rank i % WORLD, in batches of 2
            accumulator.update(batch)
        accumulator.merge_ranks()
        torch.save({'mmd': results, 'bank': banks, 'codec': measured.to_dict(),
                    'dependence': accumulator.result(generator=3).to_dict()}, out)
    finally:
        torch.distributed.destroy_process_group()


CODES = torch.randn(6, 4, 3, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
BANK_BATCHES = torch.randn(3, 6, 4, 3, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64).unbind()


def _bank_last_step(bank, batches) -> dict:
    """Feed ``batches`` to a `SampleBank`; the loss and the gradient on the last batch."""
    for step, codes in enumerate(batches[:-1]):
        bank(codes, torch.Generator().manual_seed(step))
    last = batches[-1].clone().requires_grad_(True)
    loss = bank(last, torch.Generator().manual_seed(9))
    loss.backward()
    return {'loss': loss.detach(), 'grad': last.grad}


@pytest.fixture(scope='module')
def two_ranks(tmp_path_factory):
    """What each of 2 gloo ranks (spawned processes) computed, see `_rank`."""
    tmp = tmp_path_factory.mktemp('ranks')
    init_file = tempfile.mktemp(dir=tmp)
    outs = [str(tmp / f'rank{rank}.pt') for rank in range(WORLD)]
    context = mp.get_context('spawn')
    procs = [context.Process(target=_rank, args=(rank, init_file, CODES, outs[rank])) for rank in range(WORLD)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=600)
        assert proc.exitcode == 0
    return [torch.load(out, weights_only=False) for out in outs]


def test_gathered_mmd_on_two_ranks_is_the_mmd_of_one_rank_on_all_the_data(two_ranks):
    """Same value on every rank as one rank on the concatenated data with the same permutations, and the
    gradient that, averaged over ranks (as the solver's gradient sync does), is one rank's gradient."""
    from audiocraft_mmd.losses import MMDLoss
    codes = CODES
    results = [rank['mmd'] for rank in two_ranks]
    for case, kwargs in enumerate(CASES):
        whole = codes.clone().requires_grad_(True)
        loss = MMDLoss(**kwargs)(whole, torch.Generator().manual_seed(7))
        loss.backward()
        for rank in range(WORLD):
            result = results[rank][case]
            torch.testing.assert_close(result['loss'], loss.detach(), rtol=1e-12, atol=1e-15)
            # each rank's gradient is WORLD times its share of the global one; the sync averages over WORLD
            torch.testing.assert_close(result['grad'] / WORLD, whole.grad.chunk(WORLD)[rank], rtol=1e-10,
                                       atol=1e-14)


def test_gathered_sample_bank_on_two_ranks_is_one_rank_on_all_the_data(two_ranks):
    """mmd.mode=bank with mmd.gather: each rank gathers the current batch and keeps the global bank, so the
    MMD is one rank's on every rank's batches, and the gradients average to one rank's."""
    from audiocraft_mmd.losses import MMDLoss, SampleBank
    for case, kwargs in enumerate(CASES):
        single = _bank_last_step(SampleBank(MMDLoss(**kwargs), num_batches=2), list(BANK_BATCHES))
        for rank in range(WORLD):
            result = two_ranks[rank]['bank'][case]
            torch.testing.assert_close(result['loss'], single['loss'], rtol=1e-12, atol=1e-15)
            torch.testing.assert_close(result['grad'] / WORLD, single['grad'].chunk(WORLD)[rank], rtol=1e-10,
                                       atol=1e-14)
        assert single['grad'].abs().sum() > 0


def test_gather_without_a_process_group_changes_nothing():
    from audiocraft_mmd.losses import MMDLoss
    codes = torch.randn(4, 4, 3, 10, generator=torch.Generator().manual_seed(1))
    assert not (torch.distributed.is_available() and torch.distributed.is_initialized())
    a = MMDLoss(gather=True)(codes, torch.Generator().manual_seed(2))
    b = MMDLoss()(codes, torch.Generator().manual_seed(2))
    assert torch.equal(a, b)


def test_dependence_merged_over_ranks_is_one_rank_on_all_clips(two_ranks):
    """Each rank's share of 7 clips (clip i on rank i % 2), merged: every figure of one accumulator fed all
    7 clips in order, bit for bit (the null's shuffles included)."""
    from audiocraft_mmd.metrics import DependenceAccumulator
    accumulator = DependenceAccumulator(4, 16, alignment='delay')
    for batch in _codes().split(2):
        accumulator.update(batch)
    single = accumulator.result(generator=3).to_dict()
    assert [rank['dependence'] for rank in two_ranks] == [single, single]


def test_evaluate_figures_cover_every_rank(two_ranks):
    """A codec measured on 2 ranks (each its shard of 7 clips) gives the dependence figures of one rank on all
    7 clips exactly, the same figures on both ranks, and the MSSpec and SI-SNR of one rank on all 7 clips to
    float rounding (sums of batch means in another order)."""
    single = _single_rank(lambda: _measure(_tiny_codec(), _clips()).to_dict())
    for rank in two_ranks:
        merged = rank['codec']
        assert merged['num_clips'] == single['num_clips'] == 7
        assert merged['alignments'] == single['alignments']  # every dependence figure, bit for bit
        assert merged['dependence_samples'] == single['dependence_samples']
        for key in ('msspec', 'sisnr_db', 'latent_rms'):
            assert math.isclose(merged[key], single[key], rel_tol=1e-5), key
        assert merged['mmd_samples'] == single['mmd_samples'] and math.isfinite(merged['mmd'])
    assert two_ranks[0]['codec'] == two_ranks[1]['codec']


def test_dora_run_trains_on_two_cpu_ranks_with_one_mmd_over_both(data_overrides):
    """`dora run -d --ddp_workers 2` on CPU: gloo instead of NCCL; with mmd.gather each MMD step sees both
    ranks' clips, the evaluate figures cover both shards, and both ranks' generator states are checkpointed."""
    from conftest import DEBUG_SOLVER, read_history, run_dora, xp_folder
    argv = [DEBUG_SOLVER, *data_overrides, 'optim.epochs=1', 'optim.updates_per_epoch=4', 'mmd.num_batches=2',
            'mmd.gather=true', 'num_threads=1']
    run_dora('run', '-d', '--ddp_workers', str(WORLD), *argv)
    folder = xp_folder(argv)
    [epoch] = read_history(folder)
    # per rank 4 clips of 50 frames per batch, 2 batches per macro-batch, delay crops 3: x 2 ranks gathered
    assert epoch['train']['mmd_samples'] == WORLD * 2 * 4 * (50 - 3)
    assert epoch['evaluate']['tc_percent_delay'] == epoch['evaluate']['tc_percent_delay']  # a number, not NaN
    state = torch.load(folder / 'checkpoint.th', weights_only=False)
    assert len(state['rng_states']['ranks']) == WORLD  # audiocraft seeds every rank alike: both are kept anyway


def test_mmd_step_benchmark_runs_at_a_tiny_size(tmp_path):
    """`python benchmarks/mmd_step.py` (documented in docs/DISTRIBUTED.md), on the debug codec."""
    import subprocess
    from conftest import REPO, VENV_BIN
    proc = subprocess.run([str(VENV_BIN / 'python'), 'benchmarks/mmd_step.py', '--solver',
                           'compression/encodec_mmd_debug', '--batch-size', '2', '--num-batches', '2', '--repeats', '1',
                           '--gather', '--gather-samples', '40'], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {line[:34].strip(): line[34:].split() for line in proc.stdout.splitlines()
            if line.startswith(("regular step", "MMD step", "bank mode"))}
    assert set(rows) == {'regular step', 'MMD step, checkpointing on', 'MMD step, checkpointing off',
                         'bank mode, extra per step'}
    for name, cells in rows.items():
        assert float(cells[0]) > 0 and float(cells[1]) >= 0  # seconds, MiB saved for backward (bank: kept)
        if name != 'regular step':
            assert cells[-1] == '%' and float(cells[-2]) > 0  # the amortised overhead
    assert float(rows['MMD step, checkpointing on'][1]) < float(rows['MMD step, checkpointing off'][1])
    assert float(rows['bank mode, extra per step'][1]) > 0  # one batch in the bank (2 - 1) and its gradient
    assert "bank at the paper's size: 32 batches x 64 clips x 5 frames x 4 codebooks x 128 dims, float32 = 20.0 MiB" \
        in proc.stdout
    assert 'gathered (80 samples)' in proc.stdout
