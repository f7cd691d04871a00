"""Tests of the codebook dependence metrics (audiocraft_mmd.metrics.dependence)."""
import json
import math

import numpy as np
import pytest
import torch

from audiocraft_mmd.metrics import (
    CORRECTIONS,
    DEFAULT_CORRECTION,
    DependenceAccumulator,
    DependenceResult,
    codebook_dependence,
)

pytestmark = pytest.mark.smoke


# every alignment, with a pattern of two codebooks predicted together and one alone for 'pattern'
ALIGNMENT_CASES = [('delay', None), ('parallel', None), ('pattern', {'modeling': 'coarse_first'})]


def copy_channel(m: int, p: float, n: int, rng: np.random.Generator) -> tuple:
    """X uniform on m symbols; Y = X with probability p, else an independent uniform draw."""
    x = rng.integers(0, m, n)
    y = np.where(rng.random(n) < p, x, rng.integers(0, m, n))
    return x, y


def analytic_mi_bits(m: int, p: float) -> float:
    """I(X; Y) = log2 m - H(Y|X) for the copy channel."""
    q, r = p + (1 - p) / m, (1 - p) / m
    return math.log2(m) + q * math.log2(q) + (m - 1) * r * math.log2(r)


def zipf_codes(m: int, shape: tuple, rng: np.random.Generator, offset: float = 10.0) -> np.ndarray:
    weights = 1.0 / (np.arange(m) + offset)
    return rng.choice(m, size=shape, p=weights / weights.sum())


def mixed_codes(seed: int = 0, B: int = 4, K: int = 3, T: int = 300, m: int = 40) -> np.ndarray:
    """Small [B, K, T] codes with some dependence between codebooks."""
    rng = np.random.default_rng(seed)
    codes = zipf_codes(m, (B, K, T), rng, offset=2.0)
    copy = rng.random((B, T)) < 0.4
    codes[:, 1] = np.where(copy, (codes[:, 0] * 7) % m, codes[:, 1])
    return codes


@pytest.fixture(scope='module')
def copy_pair():
    m, p = 64, 0.5
    x, y = copy_channel(m, p, 1_000_000, np.random.default_rng(0))
    return m, p, x, y


@pytest.mark.parametrize('correction', CORRECTIONS)
def test_known_mutual_information(copy_pair, correction):
    m, p, x, y = copy_pair
    result = codebook_dependence(np.stack([x, y])[None], m, correction=correction, generator=0)
    truth = analytic_mi_bits(m, p)
    # 4096 well-sampled cells: the plug-in bias is ~(m - 1)^2 / (2N ln 2) = 0.003 bit, noise sd ~0.003.
    assert result.pairwise_mi_bits[0, 1] == pytest.approx(truth, abs=0.012)
    assert result.pairwise_mi_bits[1, 0] == result.pairwise_mi_bits[0, 1]
    assert result.total_correlation_bits == pytest.approx(truth, abs=0.012)
    np.testing.assert_allclose(result.mi_vs_rest_bits, [truth, truth], atol=0.012)
    joint = 2 * math.log2(m) - truth
    assert result.pairwise_joint_entropy_bits[0, 1] == pytest.approx(joint, abs=0.01)
    assert result.tc_percent == pytest.approx(100 * truth / joint, abs=0.1)
    assert result.pair_tc_percent[0, 1] == result.tc_percent
    np.testing.assert_allclose(np.diag(result.pairwise_mi_bits), result.marginal_entropy_bits)
    np.testing.assert_allclose(result.marginal_entropy_bits, [math.log2(m)] * 2, atol=1e-3)


def test_known_mutual_information_with_independent_third_codebook(copy_pair):
    m, p, x, y = copy_pair
    z = np.random.default_rng(1).integers(0, 8, len(x))
    result = codebook_dependence(np.stack([x, y, z])[None], (m, m, 8), generator=0)
    truth = analytic_mi_bits(m, p)
    mi = result.pairwise_mi_bits
    assert mi[0, 1] == pytest.approx(truth, abs=0.012)
    assert abs(mi[0, 2]) < 0.003 and abs(mi[1, 2]) < 0.003
    assert abs(result.pair_tc_percent[0, 2]) < 0.05 and abs(result.pair_tc_percent[1, 2]) < 0.05
    assert result.total_correlation_bits == pytest.approx(truth, abs=0.015)
    np.testing.assert_allclose(result.mi_vs_rest_bits, [truth, truth, 0.0], atol=0.015)
    assert result.tc_percent == pytest.approx(result.pair_tc_percent[np.triu_indices(3, 1)].mean())
    assert result.cardinality == (m, m, 8)


def test_independent_codes_read_zero_after_default_correction():
    assert DEFAULT_CORRECTION == 'shuffle'
    rng = np.random.default_rng(3)
    codes = zipf_codes(2048, (3, 2, 50_000), rng)  # 150k samples, 4M pair cells
    result = codebook_dependence(codes, 2048, generator=0)
    assert result.correction == 'shuffle' and result.num_samples == 150_000
    # Plug-in: strongly biased upward.
    assert result.raw_pairwise_mi_bits[0, 1] > 1.0
    assert result.raw_tc_percent > 5.0
    # Default correction: 0 within 0.01 bit / 0.05 %.
    assert abs(result.pairwise_mi_bits[0, 1]) < 0.01
    assert abs(result.tc_percent) < 0.05
    assert abs(result.total_correlation_bits) < 0.01
    assert np.all(np.abs(result.mi_vs_rest_bits) < 0.01)
    # The null is the same estimate on shuffled codes: close to the raw one.
    assert result.null_tc_percent == pytest.approx(result.raw_tc_percent, abs=0.05)
    assert result.null_pairwise_mi_bits[0, 1] == pytest.approx(result.raw_pairwise_mi_bits[0, 1], abs=0.01)
    # Miller-Madow removes only part of the bias in this undersampled regime.
    mm = codebook_dependence(codes, 2048, correction='miller_madow', permutations=0)
    assert 0.3 < mm.pairwise_mi_bits[0, 1] < result.raw_pairwise_mi_bits[0, 1]
    assert mm.null_tc_percent is None


def test_relabelling_changes_nothing():
    codes = mixed_codes(seed=1)
    rng = np.random.default_rng(5)
    relabelled = codes.copy()
    for k in range(codes.shape[1]):
        relabelled[:, k] = rng.permutation(40)[codes[:, k]]
    assert not np.array_equal(relabelled, codes)
    for correction in CORRECTIONS:
        for alignment, pattern in ALIGNMENT_CASES:
            a = codebook_dependence(codes, 40, alignment, correction, permutations=3, generator=7, pattern=pattern)
            b = codebook_dependence(relabelled, 40, alignment, correction, permutations=3, generator=7, pattern=pattern)
            assert a.to_dict() == b.to_dict(), (correction, alignment)


def test_delay_alignment_detects_time_shifted_dependence():
    rng = np.random.default_rng(2)
    B, T, m = 4, 20_000, 16
    first = rng.integers(0, m, (B, T + 1))
    codes = np.stack([first[:, :-1], first[:, 1:]], axis=1)  # c_1[t] = c_0[t + 1]
    delay = codebook_dependence(codes, m, alignment='delay', generator=0)
    parallel = codebook_dependence(codes, m, alignment='parallel', generator=0)
    assert delay.num_samples == B * (T - 1) and parallel.num_samples == B * T
    assert delay.pairwise_mi_bits[0, 1] == pytest.approx(delay.marginal_entropy_bits[0], abs=0.01)
    assert delay.pair_tc_percent[0, 1] == pytest.approx(100.0, abs=0.1)
    assert abs(parallel.pairwise_mi_bits[0, 1]) < 0.01
    assert abs(parallel.tc_percent) < 0.1


def test_delay_samples_follow_musicgen_pattern_per_item():
    B, K, T = 3, 3, 10
    codes = np.arange(B * K * T).reshape(B, K, T) % 50
    acc = DependenceAccumulator(K, 50, alignment='delay')
    acc.update(torch.from_numpy(codes))
    expected = [[codes[b, 0, t], codes[b, 1, t - 1], codes[b, 2, t - 2]] for b in range(B) for t in range(K - 1, T)]
    np.testing.assert_array_equal(acc.samples(), expected)
    assert acc.num_samples == B * (T - K + 1)
    # Items shorter than K frames contribute nothing.
    acc.update(np.zeros((2, K, K - 1), dtype=np.int64))
    assert acc.num_samples == B * (T - K + 1)


@pytest.mark.parametrize('alignment,pattern', ALIGNMENT_CASES)
def test_streaming_matches_one_call(alignment, pattern):
    codes = mixed_codes(seed=4, B=6, T=200)
    whole = codebook_dependence(torch.from_numpy(codes), 40, alignment=alignment, permutations=2,
                                generator=torch.Generator().manual_seed(11), pattern=pattern)
    acc = DependenceAccumulator(3, 40, alignment=alignment, pattern=pattern)
    for batch in (codes[:1], codes[1:4], codes[4:]):
        acc.update(torch.from_numpy(batch))
    streamed = acc.result(permutations=2, generator=11)  # int seed == manual_seed(seed)
    assert streamed.to_dict() == whole.to_dict()
    assert acc.result(permutations=2, generator=11).to_dict() == whole.to_dict()  # result() is repeatable
    expected = 6 * (200 - 2) if alignment == 'delay' else 6 * 200
    assert whole.num_samples == acc.num_samples == expected


def test_streaming_accepts_varying_lengths_and_stores_compactly():
    rng = np.random.default_rng(0)
    acc = DependenceAccumulator(4, 2048, alignment='delay')
    acc.update(torch.from_numpy(rng.integers(0, 2048, (2, 4, 100))))
    acc.update(rng.integers(0, 2048, (3, 4, 37)).astype(np.int32))
    assert acc.num_samples == 2 * 97 + 3 * 34
    samples = acc.samples()
    assert samples.dtype == np.int16 and samples.nbytes == 8 * acc.num_samples


def test_large_cardinality_matches_compact_codes():
    codes = mixed_codes(seed=6, K=4)
    spread = codes * 20_011 + 7  # injective relabelling into [0, 2^20): mixed-radix keys need re-ranking
    a = codebook_dependence(codes, 40, permutations=2, generator=3).to_dict()
    b = codebook_dependence(spread, 2 ** 20, permutations=2, generator=3).to_dict()
    assert b.pop('cardinality') == [2 ** 20] * 4
    a.pop('cardinality')
    assert a == b


def test_reproducible_null_and_permutation_average():
    codes = mixed_codes(seed=8)
    a = codebook_dependence(codes, 40, permutations=4, generator=123)
    b = codebook_dependence(codes, 40, permutations=4, generator=torch.Generator().manual_seed(123))
    c = codebook_dependence(codes, 40, permutations=4, generator=124)
    assert a.to_dict() == b.to_dict()
    assert a.null_tc_percent != c.null_tc_percent
    assert a.null_tc_percent_std is not None and a.null_tc_percent_std > 0
    assert codebook_dependence(codes, 40, generator=0).null_tc_percent_std is None
    # 'shuffle' is plug-in minus the null mean.
    np.testing.assert_allclose(a.mi_vs_rest_bits, a.raw_mi_vs_rest_bits - a.null_mi_vs_rest_bits)
    i, j = np.triu_indices(3, 1)
    np.testing.assert_allclose(a.pairwise_mi_bits[i, j], (a.raw_pairwise_mi_bits - a.null_pairwise_mi_bits)[i, j])
    assert a.total_correlation_bits == pytest.approx(a.raw_total_correlation_bits - a.null_total_correlation_bits)


def test_plugin_figures_match_direct_computation():
    codes = mixed_codes(seed=9)
    result = codebook_dependence(codes, 40, correction='none', generator=0)
    samples = codes.transpose(0, 2, 1).reshape(-1, 3)

    def entropy(columns):
        _, counts = np.unique(samples[:, columns], axis=0, return_counts=True)
        prob = counts / counts.sum()
        return float(-(prob * np.log2(prob)).sum())

    h = [entropy([k]) for k in range(3)]
    h01, h_all = entropy([0, 1]), entropy([0, 1, 2])
    np.testing.assert_allclose(result.marginal_entropy_bits, h)
    assert result.pairwise_mi_bits[0, 1] == pytest.approx(h[0] + h[1] - h01)
    assert result.pair_tc_percent[0, 1] == pytest.approx(100 * (h[0] + h[1] - h01) / h01)
    assert result.total_correlation_bits == pytest.approx(sum(h) - h_all)
    assert result.mi_vs_rest_bits[2] == pytest.approx(h[2] + h01 - h_all)
    assert result.raw_tc_percent == result.tc_percent
    mm = codebook_dependence(codes, 40, correction='miller_madow', permutations=0)
    n = samples.shape[0]
    bins01 = len(np.unique(samples[:, :2], axis=0))
    assert mm.pairwise_joint_entropy_bits[0, 1] == pytest.approx(h01 + (bins01 - 1) / (2 * n * math.log(2)))


def test_to_dict_is_json_and_table_is_readable():
    codes = mixed_codes(seed=10)
    for alignment, expected in (('parallel', 4 * 300), ('delay', 4 * 298)):
        result = codebook_dependence(codes, 40, alignment=alignment, generator=0)
        assert isinstance(result, DependenceResult)
        data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert data['num_samples'] == result.num_samples == expected
        assert data['alignment'] == alignment and data['correction'] == DEFAULT_CORRECTION
        for key in ('tc_percent', 'pairwise_mi_bits', 'pair_tc_percent', 'mi_vs_rest_bits', 'total_correlation_bits',
                    'marginal_entropy_bits', 'pairwise_joint_entropy_bits', 'null_tc_percent',
                    'null_pairwise_mi_bits', 'null_total_correlation_bits', 'null_mi_vs_rest_bits', 'raw_tc_percent'):
            assert key in data
        assert len(data['pairwise_mi_bits']) == 3 and len(data['pairwise_mi_bits'][0]) == 3
        table = result.format_table()
        assert str(result) == table
        for text in ('Pairwise mutual information', 'MI vs rest', 'Total correlation', 'null', f'{expected:,}',
                     'correction'):
            assert text in table
    data = codebook_dependence(codes, 40, correction='none', permutations=0).to_dict()
    assert data['null_tc_percent'] is None
    json.dumps(data, allow_nan=False)


def test_validation_errors():
    good = np.zeros((1, 2, 5), dtype=np.int64)
    with pytest.raises(ValueError, match='at least 2 codebooks'):
        codebook_dependence(np.zeros((1, 1, 5), dtype=np.int64), 4)
    with pytest.raises(ValueError, match='at least 2 codebooks'):
        DependenceAccumulator(1, 4)
    bad = good.copy()
    bad[0, 1, 3] = 4
    with pytest.raises(ValueError, match=r'codebook 1 has code value 4 outside \[0, 4\)'):
        codebook_dependence(bad, 4)
    bad[0, 1, 3] = -1
    with pytest.raises(ValueError, match='codebook 1 has code value -1'):
        codebook_dependence(bad, 4)
    with pytest.raises(ValueError, match='codebook 0 has code value 3'):
        codebook_dependence(good + 3, (3, 8))
    with pytest.raises(ValueError, match='integer'):
        codebook_dependence(torch.zeros(1, 2, 5), 4)
    with pytest.raises(ValueError, match='integer'):
        codebook_dependence(good.astype(np.float32), 4)
    with pytest.raises(ValueError, match='3-D'):
        codebook_dependence(good[0], 4)
    acc = DependenceAccumulator(2, 4)
    with pytest.raises(ValueError, match='K=3 codebooks, expected 2'):
        acc.update(np.zeros((1, 3, 5), dtype=np.int64))
    with pytest.raises(ValueError, match='at least 2 samples, got 0'):
        acc.result()
    acc.update(np.zeros((1, 2, 1), dtype=np.int64))
    with pytest.raises(ValueError, match='at least 2 samples, got 1'):
        acc.result()
    with pytest.raises(ValueError, match='at least 2 samples, got 0'):
        codebook_dependence(np.zeros((3, 3, 2), dtype=np.int64), 4, alignment='delay')
    with pytest.raises(ValueError, match="Unknown alignment 'interleave'"):
        codebook_dependence(good, 4, alignment='interleave')
    with pytest.raises(ValueError, match="Unknown correction 'jackknife'"):
        codebook_dependence(good, 4, correction='jackknife')
    with pytest.raises(ValueError, match='permutations >= 1'):
        codebook_dependence(good, 4, correction='shuffle', permutations=0)
    with pytest.raises(ValueError, match='cardinality has 3 entries'):
        DependenceAccumulator(2, (4, 4, 4))


def test_coverage_flags_saturated_joint():
    rng = np.random.default_rng(0)
    saturated = codebook_dependence(rng.integers(0, 2048, (2, 3, 10_000)), 2048, generator=0)
    assert saturated.joint_coverage < 0.05 and 'warning' in saturated.format_table()
    dense = codebook_dependence(rng.integers(0, 4, (2, 3, 5_000)), 4, generator=0)
    assert dense.joint_coverage == pytest.approx(1.0) and 'warning' not in dense.format_table()
    np.testing.assert_allclose(dense.pairwise_coverage, np.ones((3, 3)))
    assert dense.pairwise_coverage.shape == (3, 3)


def test_constant_codes_give_zero_percent():
    codes = np.zeros((2, 2, 10), dtype=np.int64)
    result = codebook_dependence(codes, 4, correction='none', permutations=0)
    assert result.tc_percent == 0.0 and result.total_correlation_bits == 0.0
    assert result.marginal_entropy_bits.tolist() == [0.0, 0.0]


def test_benchmark_script_reports_throughput():
    """`python benchmarks/dependence.py` (documented in docs/DEPENDENCE.md), on a small input."""
    import subprocess
    import sys
    from pathlib import Path
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "dependence.py"
    proc = subprocess.run([sys.executable, str(script), "--frames", "20000", "--repeats", "1", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "frames/s" in proc.stdout and "num_samples" in proc.stdout
