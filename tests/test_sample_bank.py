"""`SampleBank` (``mmd.mode: bank``): the MMD over the last batches' values, gradient through the current one."""
import pytest
import torch

from audiocraft_mmd.losses import MMDLoss, SampleBank, factorize, mmd2_unbiased, select_frames

UNROLL = {'modeling': 'unroll', 'unroll': {'flattening': [0, 0, 1, 1]}}


def _batches(count: int, batch: int = 3, seed: int = 0) -> list:
    """``count`` batches of codes [batch, 4, 6, 12], codebook 1 a noisy copy of codebook 0 (dependent)."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        codes = torch.randn(batch, 4, 6, 12, generator=generator, dtype=torch.float64)
        codes[:, 1] = codes[:, 0] + 0.3 * codes[:, 1]
        out.append(codes)
    return out


@pytest.mark.parametrize('scale', ['fixed', 'standardized', 'median'])
@pytest.mark.parametrize('alignment, pattern', [('delay', None), ('parallel', None), ('pattern', UNROLL)])
def test_gradient_on_the_current_batch_is_the_mmd_over_the_bank_values(alignment, pattern, scale):
    """Every frame kept: the bank's MMD is the MMD of the last num_batches batches concatenated, with the same
    draws, and its gradient on the current batch is that MMD's (the bank's values as constants)."""
    batches = _batches(5)
    bank = SampleBank(MMDLoss(alignment=alignment, pattern=pattern, scale=scale), num_batches=3)
    for codes in batches[:4]:
        bank(codes, torch.Generator().manual_seed(1))
    current = batches[4].clone().requires_grad_(True)
    value = bank(current, torch.Generator().manual_seed(7))
    value.backward()
    direct_current = batches[4].clone().requires_grad_(True)
    direct_past = torch.cat(batches[2:4]).requires_grad_(True)
    direct = MMDLoss(alignment=alignment, pattern=pattern, scale=scale)(
        torch.cat([direct_past, direct_current]), torch.Generator().manual_seed(7))
    direct.backward()
    torch.testing.assert_close(value, direct)
    torch.testing.assert_close(current.grad, direct_current.grad)
    assert current.grad.abs().sum() > 0 and direct_past.grad.abs().sum() > 0  # which the bank drops


def test_frame_selection_of_the_current_batch_and_factorized_samples_from_the_whole_bank():
    """frames_per_item: the current batch keeps its random frames; the factorized samples are per-codebook
    permutations of the bank's and the current samples together, as computed here from the primitives."""
    batches = _batches(3)
    bank = SampleBank(MMDLoss(alignment='parallel', frames_per_item=4), num_batches=3)
    for codes in batches[:2]:
        bank(codes, torch.Generator().manual_seed(1))
    [past] = bank.values()
    assert past.shape == (2 * 3 * 4, 4 * 6)  # 2 batches x 3 clips x 4 frames, K x N
    current = batches[2].clone().requires_grad_(True)
    bank(current, torch.Generator().manual_seed(5)).backward()

    direct_current = batches[2].clone().requires_grad_(True)
    generator = torch.Generator().manual_seed(5)
    selected = select_frames(direct_current, 4, generator)  # [3, 4, 6, 4]
    joint = torch.cat([past.reshape(-1, 4, 6), selected.permute(0, 3, 1, 2).reshape(-1, 4, 6)])
    factorized = factorize(joint, generator)
    direct = mmd2_unbiased(joint.flatten(1), factorized.flatten(1), bank.loss.kernel)
    direct.backward()
    torch.testing.assert_close(current.grad, direct_current.grad)
    assert current.grad.abs().sum() > 0
    assert bank.last_num_samples == 3 * 3 * 4


def test_bank_holds_the_last_num_batches_minus_one_batches_detached():
    batches = _batches(5)
    bank = SampleBank(MMDLoss(alignment='parallel'), num_batches=3)
    for count, codes in enumerate(batches, start=1):
        bank(codes.clone().requires_grad_(True), torch.Generator().manual_seed(count))
        assert len(bank) == min(count, 2) and bank.steps == count
    [values] = bank.values()
    expected = torch.cat(batches[3:]).permute(0, 3, 1, 2).reshape(-1, 4 * 6)  # batch-major, then frames
    assert torch.equal(values, expected) and not values.requires_grad
    assert bank.nbytes == 2 * 3 * 12 * 4 * 6 * 8  # float64 codes stay float64
    assert bank.state_dict() == {'steps': 5}
    bank.clear()
    assert len(bank) == 0 and bank.values() is None and bank.steps == 5
    bank.load_state_dict({'steps': 9})
    assert bank.steps == 9 and len(bank) == 0


def test_one_batch_bank_is_the_mmd_of_the_batch():
    codes = _batches(1)[0]
    bank = SampleBank(MMDLoss(alignment='delay'), num_batches=1)
    value = bank(codes, torch.Generator().manual_seed(3))
    assert len(bank) == 0
    assert torch.equal(value, MMDLoss(alignment='delay')(codes, torch.Generator().manual_seed(3)))
    with pytest.raises(ValueError, match='num_batches must be >= 1'):
        SampleBank(MMDLoss(), num_batches=0)
