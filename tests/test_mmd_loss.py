"""Tests of the chunked MMD^2 estimator (eq. (7)), its kernels and MMDLoss (Algorithm 1)."""
import math
import warnings

import numpy as np
import pytest
import torch

from audiocraft_mmd.losses import (
    KERNELS,
    SCALES,
    MMDLoss,
    build_kernel,
    factorize,
    kernel_diagnostics,
    mmd2_unbiased,
    scale_samples,
)
from audiocraft_mmd.losses import MMDConfig, MMDConfigError

pytestmark = pytest.mark.smoke

KERNEL_CASES = [
    ("multiscale_gaussian", {}),
    ("multiscale_gaussian", {"sigmas": (0.5, 2.0)}),
    ("squared_inverse", {}),
    ("squared_inverse", {"sigma": 1.5}),
    ("linear", {}),
    ("quadratic", {}),
]
CASE_IDS = [f"{name}-{'-'.join(map(str, params.values())) or 'default'}" for name, params in KERNEL_CASES]


# ---------------------------------------------------------------------------------------------
# Independent references: explicit differences, full matrices, no expansion, no chunking.
def np_kernel(name: str, a: np.ndarray, b: np.ndarray, **params) -> np.ndarray:
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    dot = np.einsum("id,jd->ij", a, b)
    if name == "multiscale_gaussian":
        sigmas = params.get("sigmas", (0.1, 1, 5, 10, 20, 50))
        return sum(np.exp(-d2 / (2 * s ** 2)) for s in sigmas)
    if name == "squared_inverse":
        return 1 / (1 + d2 / params.get("sigma", 12) ** 2)
    if name == "linear":
        return dot
    if name == "quadratic":
        return dot ** 2
    raise AssertionError(name)


def np_mmd2(x: np.ndarray, y: np.ndarray, name: str, **params) -> float:
    S, M = len(x), len(y)
    total = 0.0
    for i in range(S):  # explicit i != j exclusion
        for j in range(S):
            if i != j:
                total += np_kernel(name, x[i:i + 1], x[j:j + 1], **params)[0, 0] / (S * (S - 1))
    kyy = np_kernel(name, y, y, **params)
    np.fill_diagonal(kyy, 0)
    total += kyy.sum() / (M * (M - 1))
    total -= 2 * np_kernel(name, x, y, **params).sum() / (S * M)
    return float(total)


def torch_reference_mmd2(x: torch.Tensor, y: torch.Tensor, name: str, **params) -> torch.Tensor:
    """Differentiable full-matrix eq. (7), for autograd comparisons."""
    def gram(a, b):
        d2 = (a[:, None, :] - b[None, :, :]).pow(2).sum(-1)
        if name == "multiscale_gaussian":
            return sum(torch.exp(-d2 / (2 * s ** 2)) for s in params.get("sigmas", (0.1, 1, 5, 10, 20, 50)))
        if name == "squared_inverse":
            return 1 / (1 + d2 / params.get("sigma", 12) ** 2)
        dot = a @ b.t()
        return dot if name == "linear" else dot ** 2

    S, M = len(x), len(y)
    off_x = 1 - torch.eye(S, dtype=x.dtype)
    off_y = 1 - torch.eye(M, dtype=y.dtype)
    return ((gram(x, x) * off_x).sum() / (S * (S - 1)) + (gram(y, y) * off_y).sum() / (M * (M - 1))
            - 2 * gram(x, y).sum() / (S * M))


def _samples(S: int, M: int, D: int, seed: int = 0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(S, D, generator=g, dtype=dtype)
    y = 0.8 * torch.randn(M, D, generator=g, dtype=dtype) + 0.3
    return x, y


# ---------------------------------------------------------------------------------------------
# Estimator
@pytest.mark.parametrize("S,M", [(37, 37), (37, 23)])
@pytest.mark.parametrize("name,params", KERNEL_CASES, ids=CASE_IDS)
def test_mmd2_matches_bruteforce(name, params, S, M):
    x, y = _samples(S, M, 6)
    expected = np_mmd2(x.numpy(), y.numpy(), name, **params)
    kernel = build_kernel(name, **params)
    for chunk in (8, 5, 1, 64, None):  # 8 and 5 do not divide 37; 64 > S
        value = mmd2_unbiased(x, y, kernel, chunk_size=chunk)
        assert value.dtype == torch.float64 and value.dim() == 0
        assert value.item() == pytest.approx(expected, rel=1e-10, abs=1e-12), chunk


def test_diagonal_is_excluded_exactly():
    # Duplicated samples: d2 = 0 off the diagonal too; the estimator must only drop i == j.
    x, y = _samples(10, 10, 4)
    x = torch.cat([x, x])
    kernel = build_kernel("multiscale_gaussian")
    expected = np_mmd2(x.numpy(), y.numpy(), "multiscale_gaussian")
    assert mmd2_unbiased(x, y, kernel, chunk_size=3).item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_underflow_skip_is_exact(dtype):
    # With a lower bound on the block's distances, bandwidths whose exp underflows are skipped.
    kernel = build_kernel("multiscale_gaussian")
    x, y = _samples(30, 20, 6, dtype=dtype)
    s = ((10 * x[:, None] - 10 * y[None]) ** 2).sum(-1)  # d2 ~ 1000: sigma 0.1 (and 1 in fp32) underflow
    skipped = kernel.block_sums(s.clone(), need_grad=True, s_min=float(s.min()))
    full = kernel.block_sums(s.clone(), need_grad=True)
    assert torch.equal(skipped[0], full[0]) and torch.equal(skipped[1], full[1])
    expected = np_mmd2(10 * x.double().numpy(), 10 * y.double().numpy(), "multiscale_gaussian")
    assert mmd2_unbiased(10 * x, 10 * y, kernel, chunk_size=7).item() == pytest.approx(
        expected, rel=1e-10 if dtype == torch.float64 else 1e-4, abs=1e-12 if dtype == torch.float64 else 1e-7)


@pytest.mark.parametrize("name,params", KERNEL_CASES, ids=CASE_IDS)
def test_gradcheck(name, params):
    x, y = _samples(7, 6, 3, seed=1)
    x.requires_grad_()
    y.requires_grad_()
    kernel = build_kernel(name, **params)
    assert torch.autograd.gradcheck(lambda a, b: mmd2_unbiased(a, b, kernel, chunk_size=3), (x, y))


@pytest.mark.parametrize("name,params", KERNEL_CASES, ids=CASE_IDS)
def test_gradient_matches_autograd_reference(name, params):
    x, y = _samples(37, 23, 5, seed=2)
    kernel = build_kernel(name, **params)
    x1, y1 = x.clone().requires_grad_(), y.clone().requires_grad_()
    (3.0 * mmd2_unbiased(x1, y1, kernel, chunk_size=8)).backward()
    x2, y2 = x.clone().requires_grad_(), y.clone().requires_grad_()
    (3.0 * torch_reference_mmd2(x2, y2, name, **params)).backward()
    scale = max(x2.grad.abs().max().item(), y2.grad.abs().max().item())
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-9, atol=1e-12 * scale)
    torch.testing.assert_close(y1.grad, y2.grad, rtol=1e-9, atol=1e-12 * scale)


def test_gradient_only_for_inputs_that_need_it():
    x, y = _samples(20, 20, 4)
    x.requires_grad_()
    mmd2_unbiased(x, y, build_kernel("multiscale_gaussian"), chunk_size=6).backward()
    assert x.grad is not None and y.grad is None


def test_no_quadratic_tensor_saved_for_backward():
    S, D, chunk = 2048, 16, 128
    saved = []

    def pack(t):
        saved.append(t.numel())
        return t

    x, y = _samples(S, S, D, dtype=torch.float32)
    x.requires_grad_()
    y.requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        value = mmd2_unbiased(x, y, build_kernel("multiscale_gaussian"), chunk_size=chunk)
    assert saved and max(saved) <= S * D  # e.g. the [S, D] gradients, never [S, S]
    value.backward()
    assert x.grad.shape == (S, D)

    # Same through the whole loss (alignment, frame grouping, permutations).
    saved.clear()
    codes = torch.randn(8, 2, 8, 257, requires_grad=True)  # delay: S = 8 * 256 = 2048, D = 16
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = MMDLoss(chunk_size=chunk)(codes, torch.Generator().manual_seed(0))
    assert saved and max(saved) <= codes.numel()
    loss.backward()


def test_dtypes_and_autocast():
    kernel = build_kernel("multiscale_gaussian")
    x64, y64 = _samples(40, 30, 8)
    assert mmd2_unbiased(x64, y64, kernel).dtype == torch.float64

    for half in (torch.bfloat16, torch.float16):
        xh = x64.to(half).requires_grad_()
        yh = y64.to(half)
        value = mmd2_unbiased(xh, yh, kernel)
        assert value.dtype == torch.float32
        reference = mmd2_unbiased(xh.detach().float(), yh.float(), kernel)
        assert value.item() == pytest.approx(reference.item(), rel=1e-6)
        value.backward()
        assert xh.grad.dtype == half

    x32, y32 = x64.float(), y64.float()
    plain = mmd2_unbiased(x32, y32, kernel)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = mmd2_unbiased(x32, y32, kernel)
        loss = MMDLoss(alignment="parallel")(torch.randn(4, 2, 4, 10), torch.Generator().manual_seed(0))
    assert autocast.dtype == torch.float32 and loss.dtype == torch.float32
    assert torch.equal(autocast, plain)
    assert mmd2_unbiased(x32, y32, kernel).item() == pytest.approx(np_mmd2(x32.double().numpy(), y32.double().numpy(),
                                                                         "multiscale_gaussian"), rel=1e-4, abs=1e-6)


def test_mmd2_input_errors():
    kernel = build_kernel("linear")
    with pytest.raises(ValueError, match="at least 2 samples on each side.*S=1"):
        mmd2_unbiased(torch.randn(1, 3), torch.randn(5, 3), kernel)
    with pytest.raises(ValueError, match="at least 2 samples on each side.*M=1"):
        mmd2_unbiased(torch.randn(5, 3), torch.randn(1, 3), kernel)
    with pytest.raises(ValueError, match=r"same feature dimension.*\(5, 3\).*\(5, 4\)"):
        mmd2_unbiased(torch.randn(5, 3), torch.randn(5, 4), kernel)
    with pytest.raises(ValueError, match=r"2-D.*\(5, 3, 1\)"):
        mmd2_unbiased(torch.randn(5, 3, 1), torch.randn(5, 3), kernel)


# ---------------------------------------------------------------------------------------------
# Kernels
def test_build_kernel_and_repr():
    assert set(KERNELS) == {"multiscale_gaussian", "squared_inverse", "linear", "quadratic"}
    gauss = build_kernel("multiscale_gaussian")
    assert gauss.sigmas == (0.1, 1, 5, 10, 20, 50)
    assert "sigmas=" in repr(gauss)
    assert build_kernel("squared_inverse").sigma == 12
    assert "sigma=12" in repr(build_kernel("squared_inverse"))
    assert repr(build_kernel("linear")) == "LinearKernel()"
    a, b = torch.randn(3, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    for name in KERNELS:
        np.testing.assert_allclose(build_kernel(name)(a, b).numpy(), np_kernel(name, a.numpy(), b.numpy()),
                                   rtol=1e-10, atol=1e-12)


def test_build_kernel_errors():
    valid = "multiscale_gaussian.*squared_inverse.*linear.*quadratic"
    with pytest.raises(ValueError, match=f"Unknown kernel 'rbf'.*{valid}"):
        build_kernel("rbf")
    with pytest.raises(ValueError, match="sigma"):
        build_kernel("squared_inverse", sigma=0)
    with pytest.raises(ValueError, match="sigma"):
        build_kernel("squared_inverse", sigma=-2.0)
    with pytest.raises(ValueError, match="sigmas"):
        build_kernel("multiscale_gaussian", sigmas=())
    with pytest.raises(ValueError, match="sigmas"):
        build_kernel("multiscale_gaussian", sigmas=(1.0, -1.0))
    with pytest.raises(ValueError, match="bandwidth"):
        build_kernel("multiscale_gaussian", bandwidth=3)
    with pytest.raises(ValueError, match="sigma"):
        build_kernel("linear", sigma=3)


# ---------------------------------------------------------------------------------------------
# MMDLoss
def _iid_codes(B, K, N, T, seed=0):
    return torch.randn(B, K, N, T, generator=torch.Generator().manual_seed(seed))


def test_independent_vs_dependent_codes():
    loss = MMDLoss(alignment="parallel")
    independent = _iid_codes(16, 3, 2, 64)  # S = 1024 samples
    dependent = independent.clone()
    dependent[:, 1] = dependent[:, 0]  # codebook 1 copies codebook 0
    low = loss(independent, torch.Generator().manual_seed(1)).item()
    high = loss(dependent, torch.Generator().manual_seed(1)).item()
    # Independent codes: ~0 up to an O(1/S) term (factorized samples reuse the joint vectors).
    assert high > 0.01
    assert abs(low) < 0.1 * high


def test_delay_matches_time_shifted_dependence():
    z0 = _iid_codes(16, 1, 4, 129)
    codes = torch.cat([z0[..., :-1], z0[..., 1:]], dim=1)  # z_1[t] = z_0[t + 1], T = 128
    delay = MMDLoss(alignment="delay")(codes, torch.Generator().manual_seed(0)).item()
    parallel = MMDLoss(alignment="parallel")(codes, torch.Generator().manual_seed(0)).item()
    assert delay > 0.01
    assert abs(parallel) < 0.05 * delay


def test_factorize_permutes_each_codebook():
    samples = torch.arange(50, dtype=torch.float32).view(50, 1, 1).expand(50, 3, 2).clone()
    shuffled = factorize(samples, torch.Generator().manual_seed(0))
    assert shuffled.shape == samples.shape
    for k in range(3):  # each codebook is a permutation of its own vectors
        torch.testing.assert_close(shuffled[:, k, 0].sort().values, samples[:, k, 0])
    assert not torch.equal(shuffled[:, 0], shuffled[:, 1])  # independent permutations


def test_generator_reproducibility():
    codes = _iid_codes(4, 3, 4, 20)
    loss = MMDLoss(frames_per_item=10)
    a = loss(codes, torch.Generator().manual_seed(3))
    b = loss(codes, torch.Generator().manual_seed(3))
    c = loss(codes, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert a.item() != c.item()


def test_frames_per_item_bounds_samples():
    codes = _iid_codes(4, 2, 3, 100)
    loss = MMDLoss(alignment="parallel", frames_per_item=10)
    x, y = loss.samples(codes, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (40, 6)
    # Kept frames are actual frames of each item.
    first_item = codes[0].permute(2, 0, 1).reshape(100, 6)
    assert all((first_item == row).all(dim=1).any() for row in x[:10])
    x, _ = MMDLoss(alignment="delay", frames_per_item=1000).samples(codes)
    assert x.shape[0] == 4 * 99  # fewer frames than asked: all are kept


def test_gradient_flows_to_codes():
    codes = _iid_codes(4, 2, 4, 16).requires_grad_()
    loss = MMDLoss()(codes, torch.Generator().manual_seed(0))
    loss.backward()
    assert codes.grad is not None and codes.grad.abs().sum() > 0
    assert torch.isfinite(codes.grad).all()
    # Frames cropped by the delay get no gradient: the first frame of the last codebook.
    assert codes.grad[:, -1, :, -1].abs().sum() == 0


def test_float64_codes_give_float64_loss():
    loss = MMDLoss()(_iid_codes(2, 2, 3, 8).double(), torch.Generator().manual_seed(0))
    assert loss.dtype == torch.float64


def test_mmd_loss_errors():
    with pytest.raises(ValueError, match="at least 2 codebooks"):
        MMDLoss()(torch.randn(2, 1, 4, 10))
    with pytest.raises(ValueError, match="at least 2 samples"):
        MMDLoss(alignment="parallel")(torch.randn(1, 2, 4, 1))
    with pytest.raises(ValueError, match=r"kernel=gaussian: did you mean multiscale_gaussian\? \(kernel must be one of multiscale_gaussian"):
        MMDLoss(kernel="gaussian")
    with pytest.raises(ValueError, match="alignment must be one of delay, parallel, pattern, got 'flatten'"):
        MMDLoss(alignment="flatten")
    with pytest.raises(ValueError, match="delay alignment reads codes 3 frames apart.*needs at least 4 frames, got T=3"):
        MMDLoss(alignment="delay")(torch.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match="sigma"):
        MMDLoss(kernel="squared_inverse", kernel_params={"sigma": 0.0})
    with pytest.raises(ValueError, match="sigmas"):
        MMDLoss(kernel_params={"sigmas": []})
    with pytest.raises(ValueError, match="frames_per_item"):
        MMDLoss(frames_per_item=0)
    with pytest.raises(ValueError, match=r"\[B, K, N, T\]"):
        MMDLoss()(torch.randn(2, 4, 10))


def test_extra_repr():
    text = repr(MMDLoss(kernel="squared_inverse", alignment="parallel"))
    assert "SquaredInverseKernel(sigma=12)" in text and "alignment='parallel'" in text
    custom = build_kernel("multiscale_gaussian", sigmas=(1.0, 2.0))
    assert MMDLoss(kernel=custom).kernel is custom


# ---------------------------------------------------------------------------------------------
# Kernel collapse guard
def _collapse_warnings(codes):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loss = MMDLoss()
        loss(codes, torch.Generator().manual_seed(0))
        loss(codes, torch.Generator().manual_seed(0))
    return [w for w in caught if "sees no signal" in str(w.message)], loss


@pytest.mark.parametrize("scale", [1e4, 1e-5])
def test_collapse_warning_fires_once(scale):
    caught, loss = _collapse_warnings(scale * _iid_codes(4, 4, 8, 20))
    assert len(caught) == 1
    assert "median squared distance" in str(caught[0].message)
    assert loss.last_diagnostics is not None and loss.last_diagnostics.collapsed


def test_no_collapse_warning_at_unit_scale():
    caught, loss = _collapse_warnings(_iid_codes(4, 4, 8, 20))
    assert not caught
    assert 0 < loss.last_diagnostics.active_fraction <= 1


def test_kernel_diagnostics():
    x = torch.randn(1000, 16, generator=torch.Generator().manual_seed(0))
    diag = kernel_diagnostics(x, build_kernel("multiscale_gaussian"))
    assert diag.num_samples == 256
    assert diag.median_sqdist == pytest.approx(2 * 16, rel=0.2)  # E||x - y||^2 = 2 D
    assert len(diag.component_means) == len(diag.component_at_median) == 6
    assert diag.component_at_median[0] < 1e-4  # sigma = 0.1 is dead at this scale
    assert diag.component_at_median[2] == pytest.approx(math.exp(-diag.median_sqdist / 50), rel=1e-4)
    assert not diag.collapsed
    assert not kernel_diagnostics(1e4 * x, build_kernel("linear")).collapsed


# ---------------------------------------------------------------------------------------------
# Scale of the samples (mmd.scale)
def _dependent_codes(B=4, K=3, N=4, T=24, seed=0, dtype=torch.float64):
    codes = torch.randn(B, K, N, T, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    codes[:, 1] = 0.5 * codes[:, 0] + 0.5 * codes[:, 1]  # some dependence: a non-trivial MMD
    return 3.0 * codes + 1.5  # off-centre and off-unit scale


@pytest.mark.filterwarnings("ignore:MMD kernel .* sees no signal")  # a case uses sigmas off the samples' scale
@pytest.mark.parametrize("name,params", KERNEL_CASES, ids=CASE_IDS)
def test_new_scales_are_blind_to_the_latent_scale(name, params):
    codes = _dependent_codes()
    values = {}
    for scale in SCALES:
        loss = MMDLoss(kernel=name, kernel_params=params, alignment="parallel", scale=scale)
        values[scale] = [loss(c * codes, torch.Generator().manual_seed(5)).item() for c in (1.0, 0.05)]
    for scale in ("standardized", "median"):
        big, small = values[scale]
        assert small == pytest.approx(big, rel=1e-9, abs=1e-12), scale
    big, small = values["fixed"]
    assert abs(big - small) > 1e-3 * max(abs(big), abs(small))


@pytest.mark.filterwarnings("ignore:MMD kernel .* sees no signal")  # mostly identical samples: expected
def test_median_scale_is_blind_to_the_latent_scale_in_float32_and_with_mostly_identical_samples():
    codes = _dependent_codes(dtype=torch.float32)
    for scale in ("standardized", "median"):
        loss = MMDLoss(alignment="parallel", scale=scale)
        big, small = (loss(c * codes, torch.Generator().manual_seed(1)).item() for c in (1.0, 0.05))
        assert small == pytest.approx(big, rel=1e-4, abs=1e-6)
    # Mostly silent clips: over half of the pairs coincide, the median distance is 0 and the
    # root mean squared distance takes over, still scale-free and finite.
    silent = codes.clone()
    silent[:, :, :, 4:] = 0.25
    x, _ = MMDLoss(alignment="parallel").samples(silent)
    assert torch.pdist(x).median() == 0
    loss = MMDLoss(alignment="parallel", scale="median")
    big, small = (loss(c * silent, torch.Generator().manual_seed(1)) for c in (1.0, 0.05))
    assert torch.isfinite(big) and small.item() == pytest.approx(big.item(), rel=1e-4, abs=1e-6)


def test_scale_samples_statistics():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 5, generator=g, dtype=torch.float64) * torch.tensor([1e-3, 1, 10, 100, 1], dtype=torch.float64)
    y = x[torch.randperm(300, generator=g)]
    xs, ys = scale_samples(x, y, "standardized")
    torch.testing.assert_close(xs.mean(0), torch.zeros(5, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(xs.std(0, correction=0), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(ys, (y - x.mean(0)) / x.std(0, correction=0))
    xm, ym = scale_samples(x, y, "median")
    median = torch.pdist(x).median()  # S <= 1024: all pairs
    torch.testing.assert_close(xm, x / median)
    torch.testing.assert_close(ym, y / median)
    # More than 1024 samples: 1024 evenly spaced ones, all pairs, no random draw.
    big = torch.randn(3000, 4, generator=g)
    first, second = scale_samples(big, big, "median")[0], scale_samples(big, big, "median")[0]
    assert torch.equal(first, second)
    median = torch.pdist(big[torch.linspace(0, 2999, 1024).round().long()]).median()
    torch.testing.assert_close(first, big / median)
    assert median.item() == pytest.approx(2.59, rel=0.05)  # |x - y|^2 ~ 2 chi2(4), median 2 * 3.36
    # float32 (float64) in and out, even from half precision inputs and under autocast.
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for scale in ("standardized", "median"):
            assert scale_samples(big.bfloat16(), big.bfloat16(), scale)[0].dtype == torch.float32
            assert scale_samples(big, big, scale)[0].dtype == torch.float32
            assert scale_samples(x, y, scale)[0].dtype == torch.float64


@pytest.mark.parametrize("scale", ["standardized", "median"])
def test_gradient_does_not_flow_through_the_scale_statistics(scale):
    codes = _dependent_codes(T=16).requires_grad_()
    kernel = build_kernel("multiscale_gaussian", sigmas=(0.5, 2.0))
    loss = MMDLoss(kernel=kernel, alignment="parallel", scale=scale)
    loss(codes, torch.Generator().manual_seed(2)).backward()

    # Reference: the fixed-scale MMD of samples transformed with constant (detached) statistics.
    ref_codes = codes.detach().clone().requires_grad_()
    x, y = MMDLoss(alignment="parallel").samples(ref_codes, torch.Generator().manual_seed(2))
    with torch.no_grad():
        if scale == "standardized":
            std, mean = torch.std_mean(x, dim=0, correction=0)
        else:
            std, mean = torch.pdist(x).median(), torch.zeros(())
    torch_reference_mmd2((x - mean) / std, (y - mean) / std, "multiscale_gaussian", sigmas=(0.5, 2.0)).backward()
    torch.testing.assert_close(codes.grad, ref_codes.grad, rtol=1e-8, atol=1e-12)
    assert codes.grad.abs().sum() > 0


def test_fixed_scale_is_unchanged():
    codes = _iid_codes(4, 3, 4, 20)
    loss = MMDLoss(frames_per_item=10)
    assert loss.scale == "fixed" and MMDLoss(scale="fixed").scale == "fixed"
    x, y = loss.samples(codes, torch.Generator().manual_seed(3))
    xs, ys = scale_samples(x, y, "fixed")
    assert xs is x and ys is y
    expected = mmd2_unbiased(x, y, loss.kernel)
    assert torch.equal(loss(codes, torch.Generator().manual_seed(3)), expected)


@pytest.mark.filterwarnings("ignore:MMD kernel .* sees no signal")  # identical samples: expected
@pytest.mark.parametrize("scale", ["standardized", "median"])
@pytest.mark.parametrize("name", ["multiscale_gaussian", "linear"])
@pytest.mark.parametrize("value", [0.0, 0.1, 7.0])
def test_constant_codes_give_a_finite_loss_and_gradient(scale, name, value):
    codes = torch.full((3, 2, 4, 12), value, requires_grad=True)
    loss = MMDLoss(kernel=name, scale=scale)(codes, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss) and abs(loss.item()) < 1e-6
    loss.backward()
    assert torch.isfinite(codes.grad).all()


def test_constant_feature_is_ignored_by_standardized_scale():
    codes = _dependent_codes().requires_grad_()
    with torch.no_grad():
        codes[:, 2, 1] = 0.1  # one constant feature (inexact in binary: its centring is not exactly 0)
    other = codes.detach().clone()
    other[:, 2, 1] = -40.0
    loss = MMDLoss(alignment="parallel", scale="standardized")
    value = loss(codes, torch.Generator().manual_seed(4))
    assert value.item() == loss(other, torch.Generator().manual_seed(4)).item()
    value.backward()
    assert torch.isfinite(codes.grad).all() and codes.grad[:, 2, 1].abs().sum() == 0


def test_invalid_scale_is_rejected():
    with pytest.raises(ValueError, match="scale must be one of fixed, standardized, median, got 'bogus'"):
        MMDLoss(scale="bogus")
    with pytest.raises(ValueError, match="Unknown scale 'bogus'"):
        scale_samples(torch.randn(4, 2), torch.randn(4, 2), "bogus")
    with pytest.raises(MMDConfigError, match=r"mmd\.scale must be one of fixed, standardized, median, got 'bogus'"):
        MMDConfig(scale="bogus").validate()
    MMDConfig(scale="median").validate()
    assert "scale='median'" in repr(MMDLoss(scale="median"))


def test_collapse_diagnostics_see_the_scaled_samples():
    codes = 1e-4 * _iid_codes(4, 4, 8, 20)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fixed, standardized = MMDLoss(), MMDLoss(scale="standardized")
        fixed(codes, torch.Generator().manual_seed(0))
        standardized(codes, torch.Generator().manual_seed(0))
    assert fixed.last_diagnostics.collapsed  # every sigma reads ~1 on tiny distances
    assert all(v > 1 - 1e-4 for v in fixed.last_diagnostics.component_at_median)
    assert not standardized.last_diagnostics.collapsed
    assert standardized.last_diagnostics.median_sqdist == pytest.approx(2 * 32, rel=0.2)  # 2 D
    assert len([w for w in caught if "sees no signal" in str(w.message)]) == 1


def test_benchmark_script_prints_the_comparison_table():
    """`python benchmarks/mmd_loss.py` (documented in docs/MMD.md), at tiny sizes."""
    import subprocess
    import sys
    from pathlib import Path
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "mmd_loss.py"
    proc = subprocess.run([sys.executable, str(script), "--sizes", "64", "96", "--repeats", "1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split("|") for line in proc.stdout.splitlines() if line.strip().startswith(("64 ", "96 "))]
    assert len(rows) == 2, proc.stdout
    for row in rows:
        assert float(row[1]) > 0 and float(row[2]) > 0  # ours and naive seconds
        assert float(row[-1]) < 1e-4  # both implementations give the same loss
