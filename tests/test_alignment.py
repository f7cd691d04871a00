"""The one alignment module: the MMD loss, the dependence metric and the config checks read the same samples."""
import numpy as np
import pytest
import torch

from audiocraft_mmd import alignment
from audiocraft_mmd.alignment import ALIGNMENTS, align, aligned_length


def _codes(B=2, K=4, T=10):
    """[B, K, T] integer codes whose value says where they come from: 100 * k + t."""
    return (100 * np.arange(K)[None, :, None] + np.arange(T)[None, None, :]).repeat(B, axis=0)


def test_delay_crops_k_minus_one_frames_and_parallel_keeps_every_frame():
    codes = _codes()
    aligned = align(codes, 'delay')
    assert aligned.shape == (2, 4, 10 - 4 + 1) == (2, 4, aligned_length(10, 4, 'delay'))
    for k in range(4):  # aligned step i holds z_k[t - k] with t = i + K - 1
        np.testing.assert_array_equal(aligned[0, k] - 100 * k, np.arange(3 - k, 10 - k))
    assert align(codes, 'parallel') is codes and aligned_length(10, 4, 'parallel') == 10
    assert align(codes[..., :3], 'delay').shape[-1] == 0 == aligned_length(3, 4, 'delay')
    with pytest.raises(ValueError, match="Unknown alignment 'flatten'; expected one of 'delay', 'parallel'"):
        align(codes, 'flatten')


@pytest.mark.parametrize('name', ALIGNMENTS)
def test_loss_metric_and_config_use_the_same_samples(name):
    from audiocraft_mmd.losses import MMDLoss
    from audiocraft_mmd.metrics import DependenceAccumulator
    from audiocraft_mmd.solvers import MMDConfig
    codes = _codes(B=3)
    vectors = torch.from_numpy(codes).double()[:, :, None, :]  # [B, K, N=1, T]: the code index as its vector
    joint, _ = MMDLoss(alignment=name).samples(vectors)
    accumulator = DependenceAccumulator(4, 1000, alignment=name)
    accumulator.update(codes)
    np.testing.assert_array_equal(np.sort(joint.numpy().astype(np.int64), axis=0),
                                  np.sort(accumulator.samples().astype(np.int64), axis=0))
    assert len(joint) == accumulator.num_samples == 3 * MMDConfig(alignment=name).frames_used(10, 4)
    assert alignment.ALIGNMENTS is __import__('audiocraft_mmd.losses', fromlist=['ALIGNMENTS']).ALIGNMENTS
