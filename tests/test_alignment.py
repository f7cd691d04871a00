"""The one alignment module: the MMD loss, the dependence metric and the config checks read the same samples,
from any AudioCraft codebooks pattern."""
import numpy as np
import pytest
import torch

from audiocraft_mmd import alignment
from audiocraft_mmd.alignment import ALIGNMENTS, BUILTIN_ALIGNMENTS, CodeGroup, aligned_length, code_groups

PATTERN_OF = {'delay': {'modeling': 'delay'}, 'parallel': {'modeling': 'parallel'}}


def _codes(B=2, K=4, T=10):
    """[B, K, T] integer codes whose value says where they come from: 100 * k + t."""
    return (100 * np.arange(K)[None, :, None] + np.arange(T)[None, None, :]).repeat(B, axis=0)


def _take_all(codes, name, pattern=None):
    return [group.take(codes) for group in code_groups(codes.shape[1], name, pattern)]


def test_delay_crops_k_minus_one_frames_and_parallel_keeps_every_frame():
    codes = _codes()
    [aligned] = _take_all(codes, 'delay')
    assert aligned.shape == (2, 4, 10 - 4 + 1) and aligned_length(10, code_groups(4, 'delay')) == 7
    for k in range(4):  # aligned step i holds z_k[t - k] with t = i + K - 1: codebook k sliced [K-1-k : T-k]
        np.testing.assert_array_equal(aligned[0, k] - 100 * k, np.arange(3 - k, 10 - k))
    [parallel] = _take_all(codes, 'parallel')
    np.testing.assert_array_equal(parallel, codes)
    assert _take_all(codes[..., :3], 'delay')[0].shape[-1] == 0 == aligned_length(3, code_groups(4, 'delay'))
    with pytest.raises(ValueError, match="Unknown alignment 'flatten'; expected one of 'delay', 'parallel', 'pattern'"):
        code_groups(4, 'flatten')


@pytest.mark.parametrize('name', BUILTIN_ALIGNMENTS)
def test_pattern_delay_and_parallel_give_the_same_samples_as_the_named_alignments(name):
    from audiocraft_mmd.losses import MMDLoss
    from audiocraft_mmd.metrics import DependenceAccumulator
    codes = _codes(B=3, K=4, T=12)
    assert code_groups(4, 'pattern', PATTERN_OF[name]) == code_groups(4, name)
    vectors = torch.from_numpy(codes).double()[:, :, None, :]
    named = MMDLoss(alignment=name).samples(vectors, torch.Generator().manual_seed(0))
    from_pattern = MMDLoss(alignment='pattern', pattern=PATTERN_OF[name]).samples(vectors, torch.Generator().manual_seed(0))
    for a, b in zip(named, from_pattern):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    by_name, by_pattern = DependenceAccumulator(4, 1000, name), DependenceAccumulator(4, 1000, 'pattern', PATTERN_OF[name])
    by_name.update(codes)
    by_pattern.update(codes)
    np.testing.assert_array_equal(by_name.samples(), by_pattern.samples())


def test_coarse_first_groups_read_by_hand():
    """K=3, coarse_first with delays [0, 1]: the pattern predicts z0[t] alone (T steps), then (z1[t], z2[t-1])
    together. Single codes carry no within-step dependence: one group, z1 one frame ahead of z2."""
    [group] = code_groups(3, 'pattern', {'modeling': 'coarse_first', 'coarse_first': {'delays': [0, 1]}})
    assert group == CodeGroup(codebooks=(1, 2), offsets=(1, 0), steps_per_frame=1.0)
    codes = _codes(B=1, K=3, T=5)
    expected = [(101, 200), (102, 201), (103, 202), (104, 203)]  # (z1[p+1], z2[p]) for p = 0..3
    assert [tuple(map(int, pair)) for pair in group.take(codes)[0].T] == expected
    # coarse_first's default delays [0, 0]: z1 and z2 of the same frame
    assert code_groups(3, 'pattern', {'modeling': 'coarse_first'}) == (CodeGroup((1, 2), (0, 0), 1.0),)


def test_a_pattern_with_two_groups_gets_one_mmd_each_weighted_by_its_steps():
    """unroll with flattening [0, 0, 1, 1]: each frame is predicted in two steps, (z0, z1) then (z2, z3)."""
    from audiocraft_mmd.losses import MMDLoss, mmd2_unbiased
    pattern = {'modeling': 'unroll', 'unroll': {'flattening': [0, 0, 1, 1]}}
    groups = code_groups(4, 'pattern', pattern)
    assert groups == (CodeGroup((0, 1), (0, 0), 1.0), CodeGroup((2, 3), (0, 0), 1.0))
    vectors = torch.randn(4, 4, 3, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    loss = MMDLoss(alignment='pattern', pattern=pattern)
    value = loss(vectors, torch.Generator().manual_seed(1))
    parts = loss.group_samples(vectors, torch.Generator().manual_seed(1))
    assert [part[1].shape for part in parts] == [(36, 6), (36, 6)]
    expected = sum(0.5 * mmd2_unbiased(x, y, loss.kernel) for _, x, y in parts)
    torch.testing.assert_close(value, expected)
    with pytest.raises(ValueError, match='2 groups of codes: use group_samples'):
        loss.samples(vectors)


def test_edges_of_a_sequence_are_not_groups_and_single_code_patterns_are_refused():
    # delay with K=4 starts with steps predicting 1, 2 and 3 codes: only the full step repeats with the length
    assert [len(g.codebooks) for g in code_groups(4, 'delay')] == [4]
    for pattern in ({'modeling': 'unroll'}, {'modeling': 'musiclm'}):
        with pytest.raises(ValueError, match='predicts one code per step'):
            code_groups(4, 'pattern', pattern)
    with pytest.raises(ValueError, match=r"pattern delay with arguments \{'delays': \[0, 1\]\} does not fit K=4"):
        code_groups(4, 'pattern', {'modeling': 'delay', 'delay': {'delays': [0, 1]}})
    with pytest.raises(ValueError, match='pattern.modeling must be one of'):
        code_groups(4, 'pattern', {'modeling': 'vall_e'})


@pytest.mark.parametrize('name', ALIGNMENTS)
def test_loss_metric_and_config_use_the_same_samples(name):
    from audiocraft_mmd.losses import MMDLoss
    from audiocraft_mmd.metrics import DependenceAccumulator
    from audiocraft_mmd.losses import MMDConfig
    pattern = {'modeling': 'coarse_first', 'coarse_first': {'delays': [0, 1, 2]}} if name == 'pattern' else None
    codes = _codes(B=3)
    vectors = torch.from_numpy(codes).double()[:, :, None, :]  # [B, K, N=1, T]: the code index as its vector
    joint, _ = MMDLoss(alignment=name, pattern=pattern).samples(vectors)
    accumulator = DependenceAccumulator(4, 1000, alignment=name, pattern=pattern)
    accumulator.update(codes)
    np.testing.assert_array_equal(np.sort(joint.numpy().astype(np.int64), axis=0),
                                  np.sort(accumulator.samples().astype(np.int64), axis=0))
    config = MMDConfig(alignment=name, pattern=pattern)
    assert len(joint) == accumulator.num_samples == 3 * config.frames_used(10, 4)
    assert alignment.ALIGNMENTS is __import__('audiocraft_mmd.losses', fromlist=['ALIGNMENTS']).ALIGNMENTS


def test_pattern_metric_reports_each_group_and_the_bits_an_lm_factorizes_away():
    from audiocraft_mmd.metrics import GroupedDependence, codebook_dependence
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 8, size=(40, 4, 50))
    codes[:, 1] = codes[:, 0]  # z1 = z0 in the same frame: dependent within the first group only
    pattern = {'modeling': 'unroll', 'unroll': {'flattening': [0, 0, 1, 1]}}
    result = codebook_dependence(codes, 8, 'pattern', pattern=pattern, generator=0)
    assert isinstance(result, GroupedDependence) and result.weights == [0.5, 0.5]
    first, second = result.results
    assert first.codebooks == (0, 1) and second.codebooks == (2, 3)
    assert first.total_correlation_bits == pytest.approx(3.0, abs=0.05)  # H(z0) = 3 bits, all shared
    assert abs(second.total_correlation_bits) < 0.05
    assert result.total_correlation_bits_per_frame == pytest.approx(
        first.total_correlation_bits + second.total_correlation_bits)
    assert result.tc_percent == pytest.approx(0.5 * first.tc_percent + 0.5 * second.tc_percent)
    table = result.format_table()
    assert 'Group z0[t] z1[t]' in table and 'cb2' in table and result.to_dict()['groups'][1]['codebooks'] == [2, 3]
