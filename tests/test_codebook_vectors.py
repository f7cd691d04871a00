"""Per-codebook vectors of the RVQ: same codes as audiocraft, straight-through gradient, no state change."""
import pytest
import torch
from audiocraft.quantization.vq import ResidualVectorQuantizer

from audiocraft_mmd.quantization import codebook_vectors, dropout_gradient_mask, mask_gradient


@pytest.fixture
def rvq():
    torch.manual_seed(0)
    quantizer = ResidualVectorQuantizer(dimension=16, n_q=4, bins=32, kmeans_init=True, kmeans_iters=3,
                                        threshold_ema_dead_code=2)
    quantizer.train()
    quantizer(torch.randn(4, 16, 50), frame_rate=50)  # k-means init of the codebooks
    return quantizer


def _buffers(module):
    return {name: buffer.clone() for name, buffer in module.named_buffers()}


def test_quantized_stream_matches_rvq(rvq):
    emb = torch.randn(3, 16, 20)
    rvq.eval()
    vectors = codebook_vectors(rvq, emb, stream='quantized')
    assert vectors.shape == (3, 4, 16, 20)
    expected = rvq(emb, frame_rate=50).x
    torch.testing.assert_close(vectors.sum(dim=1), expected, atol=1e-5, rtol=1e-5)
    codes = rvq.encode(emb)  # [B, K, T]
    for k, layer in enumerate(rvq.vq.layers):
        torch.testing.assert_close(vectors[:, k], layer.decode(codes[:, k]))


def test_residual_stream_is_what_is_left(rvq):
    emb = torch.randn(2, 16, 10)
    quantized = codebook_vectors(rvq, emb, stream='quantized')
    residual = codebook_vectors(rvq, emb, stream='residual')
    torch.testing.assert_close(residual, emb[:, None] - quantized.cumsum(dim=1), atol=1e-5, rtol=1e-5)


def test_no_codebook_state_moves_and_gradient_is_straight_through(rvq):
    before = _buffers(rvq)
    emb = torch.randn(2, 16, 10, requires_grad=True)
    vectors = codebook_vectors(rvq, emb)
    weights = torch.randn_like(vectors)
    (vectors * weights).sum().backward()
    after = _buffers(rvq)
    for name, value in before.items():
        assert torch.equal(value, after[name]), f"buffer {name} changed"
    # straight-through: d(sum_k w_k . q_k)/d emb = sum_k w_k
    torch.testing.assert_close(emb.grad, weights.sum(dim=1))


def test_uninitialised_codebooks_are_refused():
    quantizer = ResidualVectorQuantizer(dimension=8, n_q=2, bins=16, kmeans_init=True)
    with pytest.raises(RuntimeError, match='not initialised'):
        codebook_vectors(quantizer, torch.randn(1, 8, 4))


def test_unknown_stream(rvq):
    with pytest.raises(ValueError, match="mmd.stream"):
        codebook_vectors(rvq, torch.randn(1, 16, 4), stream='codes')


def test_dropout_mask_blocks_gradient_of_dropped_codebooks():
    generator = torch.Generator().manual_seed(3)
    keep = dropout_gradient_mask(64, 4, generator)
    assert keep.shape == (64, 4) and keep[:, 0].all()
    # kept codebooks are a prefix 0..n_b-1, and all four prefixes appear
    assert torch.equal(keep, keep.cummin(dim=1).values)
    assert set(keep.sum(dim=1).tolist()) == {1, 2, 3, 4}
    vectors = torch.randn(64, 4, 3, 5, requires_grad=True)
    masked = mask_gradient(vectors, keep)
    assert torch.equal(masked, vectors)
    masked.sum().backward()
    assert torch.equal(vectors.grad, keep[:, :, None, None].expand_as(vectors).float())
    again = dropout_gradient_mask(64, 4, torch.Generator().manual_seed(3))
    assert torch.equal(keep, again)
