"""Independence-promoting MMD loss (paper Section 3, eq. (7) and Algorithm 1).

:func:`mmd2_unbiased` computes the unbiased MMD^2 estimator between joint samples ``x`` [S, D]
and factorized samples ``y`` [M, D] by blocks of rows, so that memory stays linear in S in the
forward and the backward: no S x S matrix is ever materialised. Its backward is analytic (see
:mod:`.kernels`): the gradient is accumulated block by block during the forward pass, when
gradients are required, and only the two gradient tensors ([S, D] and [M, D]) are kept for the
backward. That is cheaper than recomputing the blocks in the backward, for the same memory.

:class:`MMDLoss` implements Algorithm 1 on codes [B, K, N, T]: the alignment of the K codebooks
(:mod:`audiocraft_mmd.alignment`), batch and time grouped into S samples, one independent
permutation per codebook to sample the factorized distribution, optionally a scale-free transform of the samples
(:func:`scale_samples`), then eq. (7). With a pattern whose steps predict several groups of codes, one
MMD per group, weighted by the group's share of the steps.
"""
import dataclasses
import math
import typing as tp
import warnings

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from ..alignment import ALIGNMENTS, CodeGroup, PatternConfig, code_groups, group_weights, pattern_problem
from ..errors import choice_problem
from .gather import gather_rows, local_gradient_scale
from .kernels import KERNELS, Kernel, build_kernel, pairwise_sqdist

if tp.TYPE_CHECKING:
    from .config import MMDConfig


SCALES: tp.Tuple[str, ...] = ("fixed", "standardized", "median")
"""Valid ``scale`` values of :class:`MMDLoss` (see :func:`scale_samples`)."""


def loss_problems(alignment: str, pattern: tp.Optional[PatternConfig], kernel: tp.Union[str, Kernel],
                  kernel_params: tp.Optional[tp.Dict[str, tp.Any]], scale: str, frames_per_item: tp.Optional[int],
                  chunk_size: tp.Optional[int], prefix: str = '') -> tp.List[str]:
    """Every argument of `MMDLoss` that cannot work, one message each naming it: the one check of these settings,
    for the loss (``prefix=''``) and for the ``mmd:`` block of a config (``prefix='mmd.'``, `MMDConfig.problems`)."""
    none = 'null' if prefix else 'None'
    problems = []
    if (problem := choice_problem(f'{prefix}alignment', alignment, ALIGNMENTS)) is not None:
        problems.append(problem)
    elif alignment == 'pattern' and (problem := pattern_problem(pattern, f'{prefix}pattern')):
        problems.append(f"{problem}." if problem.startswith(f'{prefix}pattern.modeling') else
                        f"{prefix}alignment=pattern reads {prefix}pattern: {problem} "
                        f"(e.g. {prefix}pattern.modeling=coarse_first).")
    if isinstance(kernel, Kernel):
        if kernel_params:
            problems.append(f"{prefix}kernel_params can only be given with a kernel name, not a Kernel instance.")
    elif (problem := choice_problem(f'{prefix}kernel', kernel, KERNELS)) is not None:
        problems.append(problem)
    else:
        try:
            build_kernel(kernel, **(kernel_params or {}))
        except (TypeError, ValueError) as exc:
            problems.append(f"{prefix}kernel_params {kernel_params!r} do not fit kernel {kernel!r}: {exc}")
    if (problem := choice_problem(f'{prefix}scale', scale, SCALES)) is not None:
        problems.append(problem)
    for name, value in ((f'{prefix}frames_per_item', frames_per_item), (f'{prefix}chunk_size', chunk_size)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            problems.append(f"{name} must be {none} or an integer >= 1, got {value!r}.")
    return problems


# Samples used for the median pairwise distance of ``scale="median"`` (all pairs among them).
_MEDIAN_MAX_SAMPLES = 1024
# A spread (std, distance) at most this many epsilons of the dtype times the samples' magnitude
# is rounding noise: the feature (or the whole set of samples) is treated as constant.
_DEGENERATE_EPS = 64

# Target size of one [chunk, chunk] block of kernel values. On CPU smaller blocks stay in cache
# and run faster (see benchmarks/mmd_loss.py); on accelerators larger blocks keep the GPU busy.
_BLOCK_BYTES = {"cpu": 4 * 2 ** 20}
_DEFAULT_BLOCK_BYTES = 64 * 2 ** 20


def default_chunk_size(device: tp.Union[torch.device, str], dtype: torch.dtype = torch.float32) -> int:
    """Rows per block so that a square block of kernel values takes about 4 MiB on CPU and
    64 MiB on other devices (a multiple of 64, at least 64)."""
    device_type = torch.device(device).type
    block_bytes = _BLOCK_BYTES.get(device_type, _DEFAULT_BLOCK_BYTES)
    itemsize = torch.empty((), dtype=dtype).element_size()
    rows = int(math.sqrt(block_bytes / itemsize))
    return max(64, rows // 64 * 64)


def _compute_dtype(x: torch.Tensor, y: torch.Tensor) -> torch.dtype:
    """float64 if either input is float64, else float32 (float16/bfloat16 are upcast)."""
    for t in (x, y):
        if not t.is_floating_point():
            raise ValueError(f"mmd2_unbiased expects floating point samples, got dtype {t.dtype}.")
    return torch.float64 if torch.float64 in (x.dtype, y.dtype) else torch.float32


def _check_samples(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.dim() != 2 or y.dim() != 2:
        raise ValueError(f"mmd2_unbiased expects 2-D samples x [S, D] and y [M, D], "
                         f"got shapes {tuple(x.shape)} and {tuple(y.shape)}.")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same feature dimension D, "
                         f"got shapes {tuple(x.shape)} and {tuple(y.shape)}.")
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError(f"The MMD needs at least 2 samples on each side, got S={x.shape[0]} joint "
                         f"and M={y.shape[0]} factorized samples.")


@dataclasses.dataclass
class _Side:
    """One set of samples [n, D] laid out for block products.

    The statistic of a block is ``left[I] @ right[J].T``. For distance kernels
    ``left = [z, |z|^2, 1]`` and ``right = [-2 z, 1, |z|^2]``, so one GEMM gives
    ``|z_i|^2 + |z_j|^2 - 2 z_i.z_j`` with no extra pass over the block.
    """
    feats: torch.Tensor  # [n, D] the samples, used by the gradient
    left: torch.Tensor  # [n, D'] left operand of the statistic
    right: torch.Tensor  # [n, D'] right operand of the statistic

    @classmethod
    def build(cls, z: torch.Tensor, statistic: str) -> "_Side":
        if statistic != "sqdist":
            return cls(z, z, z)
        norm = z.pow(2).sum(dim=1, keepdim=True)
        ones = torch.ones_like(norm)
        left = torch.cat([z, norm, ones], dim=1)
        right = torch.cat([-2 * z, ones, norm], dim=1)
        return cls(left[:, :z.shape[1]], left, right)


def _block_sums(kernel: Kernel, a: _Side, b: _Side, rows: slice, cols: slice, need_grad: bool,
                diagonal: bool) -> tp.Tuple[torch.Tensor, tp.Optional[torch.Tensor]]:
    """Row sums [R] of the kernel values of ``a[rows]`` against ``b[cols]`` and ``dk/ds`` [R, C].

    For a ``diagonal`` block (same rows on both sides) the pairs i == j are masked out.
    """
    s = a.left[rows] @ b.right[cols].t()
    s_min = None
    if kernel.statistic == "sqdist":
        # A lower bound lets the kernel skip terms that underflow to 0 on the whole block. It
        # costs a host sync, so it is only computed on CPU, where it is free.
        if s.device.type == "cpu" and kernel.uses_s_min and not diagonal:
            s_min = float(s.amin())
            if s_min < 0:
                s.clamp_min_(0)
                s_min = 0.0
        else:
            s.clamp_min_(0)
    return kernel.block_sums(s, need_grad=need_grad, mask_diagonal=diagonal, s_min=s_min)


def _accumulate_grad(statistic: str, deriv: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                     grad_a: tp.Optional[torch.Tensor], grad_b: tp.Optional[torch.Tensor],
                     scale: float) -> None:
    """Add ``scale * d(sum_ij k(a_i, b_j))/da`` to ``grad_a`` [R, D] and the same for ``b`` [C, D].

    ``deriv`` [R, C] is ``dk/ds``; for ``sqdist`` ``dk/da_i = 2 sum_j W_ij (a_i - b_j)``, for
    ``dot`` ``dk/da_i = sum_j W_ij b_j`` (and symmetrically for ``b``).
    """
    if statistic == "sqdist":
        if grad_a is not None:
            grad_a.addcmul_(deriv.sum(dim=1, keepdim=True), a, value=2 * scale)
            grad_a.addmm_(deriv, b, alpha=-2 * scale)
        if grad_b is not None:
            grad_b.addcmul_(deriv.sum(dim=0).unsqueeze(1), b, value=2 * scale)
            grad_b.addmm_(deriv.t(), a, alpha=-2 * scale)
    else:
        if grad_a is not None:
            grad_a.addmm_(deriv, b, alpha=scale)
        if grad_b is not None:
            grad_b.addmm_(deriv.t(), a, alpha=scale)


def _self_sum(z: _Side, kernel: Kernel, chunk: int, grad: tp.Optional[torch.Tensor],
              grad_scale: float) -> torch.Tensor:
    """``sum_{i != j} k(z_i, z_j)`` as a float64 scalar, visiting only the blocks on and above the
    diagonal (the kernel is symmetric). Adds ``grad_scale`` times its gradient into ``grad``
    [n, D] when given."""
    n = z.feats.shape[0]
    total = torch.zeros((), dtype=torch.float64, device=z.feats.device)
    for i0 in range(0, n, chunk):
        rows = slice(i0, min(i0 + chunk, n))
        for j0 in range(i0, n, chunk):
            cols = slice(j0, min(j0 + chunk, n))
            diagonal = j0 == i0
            row_sums, deriv = _block_sums(kernel, z, z, rows, cols, grad is not None, diagonal)
            block_sum = row_sums.sum(dtype=torch.float64)
            # An off-diagonal block stands for itself and its transpose. In a diagonal block each
            # z_i is both a row and a column: its gradient is twice the row term.
            total += block_sum if diagonal else 2 * block_sum
            if grad is not None:
                assert deriv is not None
                _accumulate_grad(kernel.statistic, deriv, z.feats[rows], z.feats[cols], grad[rows],
                                 None if diagonal else grad[cols], 2 * grad_scale)
    return total


def _cross_sum(x: _Side, y: _Side, kernel: Kernel, chunk: int, grad_x: tp.Optional[torch.Tensor],
               grad_y: tp.Optional[torch.Tensor], grad_scale: float) -> torch.Tensor:
    """``sum_{i, j} k(x_i, y_j)`` as a float64 scalar, adding ``grad_scale`` times its gradient
    into ``grad_x`` [S, D] and ``grad_y`` [M, D] when given."""
    S, M = x.feats.shape[0], y.feats.shape[0]
    total = torch.zeros((), dtype=torch.float64, device=x.feats.device)
    need_grad = grad_x is not None or grad_y is not None
    for i0 in range(0, S, chunk):
        rows = slice(i0, min(i0 + chunk, S))
        for j0 in range(0, M, chunk):
            cols = slice(j0, min(j0 + chunk, M))
            row_sums, deriv = _block_sums(kernel, x, y, rows, cols, need_grad, False)
            total += row_sums.sum(dtype=torch.float64)
            if need_grad:
                assert deriv is not None
                _accumulate_grad(kernel.statistic, deriv, x.feats[rows], y.feats[cols],
                                 None if grad_x is None else grad_x[rows],
                                 None if grad_y is None else grad_y[cols], grad_scale)
    return total


def _mmd2_chunked(x: torch.Tensor, y: torch.Tensor, kernel: Kernel, chunk: int, need_grad_x: bool,
                  need_grad_y: bool
                  ) -> tp.Tuple[torch.Tensor, tp.Optional[torch.Tensor], tp.Optional[torch.Tensor]]:
    """Eq. (7) by blocks, on detached inputs of the compute dtype.

    Returns:
        The estimate (0-dim, dtype of ``x``) and, when requested, its gradients w.r.t. ``x``
        [S, D] and ``y`` [M, D].
    """
    S, M = x.shape[0], y.shape[0]
    if kernel.statistic == "sqdist":
        # Distance kernels are translation invariant: centring shrinks the norms in the
        # expansion |a|^2 + |b|^2 - 2 a.b and with them its rounding error. The analytic
        # gradient only involves differences, so it is unchanged.
        mean = (x.sum(dim=0) + y.sum(dim=0)) / (S + M)
        x, y = x - mean, y - mean
    xs, ys = _Side.build(x, kernel.statistic), _Side.build(y, kernel.statistic)
    grad_x = torch.zeros_like(x) if need_grad_x else None
    grad_y = torch.zeros_like(y) if need_grad_y else None
    coef_xx, coef_yy, coef_xy = 1.0 / (S * (S - 1)), 1.0 / (M * (M - 1)), -2.0 / (S * M)
    sum_xx = _self_sum(xs, kernel, chunk, grad_x, coef_xx)
    sum_yy = _self_sum(ys, kernel, chunk, grad_y, coef_yy)
    sum_xy = _cross_sum(xs, ys, kernel, chunk, grad_x, grad_y, coef_xy)
    value = coef_xx * sum_xx + coef_yy * sum_yy + coef_xy * sum_xy
    return value.to(x.dtype), grad_x, grad_y


class _MMD2Unbiased(torch.autograd.Function):
    """Autograd wrapper: the forward also accumulates the gradient block by block and saves only
    the [S, D] and [M, D] gradients; the backward scales them by the incoming gradient."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, y: torch.Tensor, kernel: Kernel, chunk: int) -> torch.Tensor:  # type: ignore
        need_x, need_y = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        value, grad_x, grad_y = _mmd2_chunked(x, y, kernel, chunk, need_x, need_y)
        ctx.save_for_backward(grad_x, grad_y)
        return value

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore
        grad_x, grad_y = ctx.saved_tensors
        return (None if grad_x is None else grad_x * grad_out,
                None if grad_y is None else grad_y * grad_out, None, None)


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, kernel: Kernel,
                  chunk_size: tp.Optional[int] = None) -> torch.Tensor:
    """Unbiased MMD^2 estimate of paper eq. (7), generalised to S != M::

        1/(S(S-1)) sum_{i!=j} k(x_i, x_j) + 1/(M(M-1)) sum_{i!=j} k(y_i, y_j)
            - 2/(S M) sum_{i,j} k(x_i, y_j)

    Computed by blocks of ``chunk_size`` rows, memory linear in S and M in the forward and the
    backward (first-order gradients only). When grad mode is on and an input requires grad, the
    analytic gradient is accumulated during this call (no recomputation in the backward), so
    call it under ``torch.no_grad()`` when the value is only logged. Block sums are accumulated
    in float64, the diagonal i == j is masked exactly in the diagonal blocks. Inputs in
    float16/bfloat16 are upcast to float32, float64 stays float64, and autocast is disabled inside,
    so the result is float32 (float64 for float64 inputs) even under autocast.

    Args:
        x: [S, D] joint samples.
        y: [M, D] factorized samples.
        kernel: a :class:`~.kernels.Kernel`, see :func:`~.kernels.build_kernel`.
        chunk_size: rows per block; defaults to :func:`default_chunk_size`.
    Returns:
        0-dim tensor, differentiable w.r.t. ``x`` and ``y``.
    Raises:
        ValueError: non 2-D inputs, mismatched D, fewer than 2 samples on a side.
    """
    _check_samples(x, y)
    dtype = _compute_dtype(x, y)
    if chunk_size is None:
        chunk_size = default_chunk_size(x.device, dtype)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}.")
    with torch.autocast(device_type=x.device.type, enabled=False):
        x, y = x.to(dtype), y.to(dtype)
        if torch.is_grad_enabled() and (x.requires_grad or y.requires_grad):
            return _MMD2Unbiased.apply(x, y, kernel, chunk_size)
        with torch.no_grad():
            return _mmd2_chunked(x, y, kernel, chunk_size, False, False)[0]


def _degenerate_floor(magnitude: torch.Tensor) -> torch.Tensor:
    """Largest spread that is still rounding noise for values of ``magnitude`` (any shape)."""
    finfo = torch.finfo(magnitude.dtype)
    return (magnitude * (_DEGENERATE_EPS * finfo.eps)).clamp_min(finfo.tiny)


def _evenly_spaced(x: torch.Tensor, max_samples: int) -> torch.Tensor:
    """At most ``max_samples`` evenly spaced rows of ``x`` [S, D] (first and last included)."""
    n = min(max_samples, x.shape[0])
    index = torch.linspace(0, x.shape[0] - 1, n, device=x.device).round().long()
    return x[index]


def _median_distance(x: torch.Tensor) -> torch.Tensor:
    """Scale of the joint samples ``x`` [S, D] for ``scale="median"``, a 0-dim tensor, no grad.

    The median distance over all pairs i < j of at most 1024 evenly spaced samples (exact
    differences, deterministic). Where it is rounding noise (most pairs identical, e.g. silent
    clips), the root mean squared distance over all pairs of all samples; where that is noise
    too (all samples identical), 1. No host synchronisation.
    """
    S = x.shape[0]
    median = torch.pdist(_evenly_spaced(x, _MEDIAN_MAX_SAMPLES)).median()
    var = (x - x.mean(dim=0)).pow(2).mean(dim=0)
    rms = (var.sum() * (2 * S / (S - 1))).sqrt()  # mean over i != j of |x_i - x_j|^2
    floor = _degenerate_floor(x.abs().amax())
    one = torch.ones_like(median)
    return torch.where(median > floor, median, torch.where(rms > floor, rms, one))


def scale_samples(x: torch.Tensor, y: torch.Tensor, scale: str) -> tp.Tuple[torch.Tensor, torch.Tensor]:
    """Make the MMD blind to the latent's overall scale (or not), before the kernel.

    The statistics come from the joint samples ``x`` only and are detached (no gradient flows
    through them); ``y`` (per-codebook permutations of ``x``, same marginals) gets the same
    transform.

    - ``fixed``: ``x`` and ``y`` returned as they are (the paper's fixed bandwidths).
    - ``standardized``: each feature d is centred on its mean over ``x`` and divided by its
      standard deviation over ``x`` (population std). A constant feature (std at rounding level,
      or 0) becomes exactly 0 on both sides and gets no gradient: it carries no dependence.
    - ``median``: ``x`` and ``y`` divided by the median distance between joint samples (see
      :func:`_median_distance`); for distance kernels this is the same as multiplying every
      bandwidth by that distance.

    With ``standardized`` or ``median``, ``c * x`` and ``c * y`` give the same output for any c > 0.
    Computed in float32 (float64 for float64 inputs) with autocast disabled.

    Args:
        x: [S, D] joint samples.
        y: [M, D] factorized samples.
        scale: one of :data:`SCALES`.
    Returns:
        ``(x', y')`` of shapes [S, D] and [M, D], differentiable w.r.t. ``x`` and ``y``.
    Raises:
        ValueError: unknown ``scale``, or samples :func:`mmd2_unbiased` would reject.
    """
    if scale not in SCALES:
        raise ValueError(f"Unknown scale {scale!r}; expected one of {', '.join(map(repr, SCALES))}.")
    _check_samples(x, y)
    if scale == "fixed":
        return x, y
    dtype = _compute_dtype(x, y)
    with torch.autocast(device_type=x.device.type, enabled=False):
        x, y = x.to(dtype), y.to(dtype)
        with torch.no_grad():
            xd = x.detach()
            if scale == "standardized":
                std, mean = torch.std_mean(xd, dim=0, correction=0)
                constant = std <= _degenerate_floor(xd.abs().amax(dim=0))
                inv = torch.where(constant, torch.zeros_like(std), std.reciprocal())
            else:
                mean = None
                inv = _median_distance(xd).reciprocal()
        if mean is not None:
            x, y = x - mean, y - mean
        return x * inv, y * inv


def _generator_device(generator: tp.Optional[torch.Generator]) -> torch.device:
    return torch.device("cpu") if generator is None else generator.device


def select_frames(codes: torch.Tensor, frames_per_item: tp.Optional[int],
                  generator: tp.Optional[torch.Generator] = None) -> torch.Tensor:
    """Keep a random subset of ``frames_per_item`` frames per item: [B, K, N, T] -> [B, K, N, F].

    Frames are drawn without replacement with ``generator``; all are kept if T <= F.
    """
    B, K, N, T = codes.shape
    if frames_per_item is None or frames_per_item >= T:
        return codes
    scores = torch.rand(B, T, generator=generator, device=_generator_device(generator))
    index = scores.argsort(dim=1)[:, :frames_per_item].to(codes.device)
    return codes.gather(3, index[:, None, None, :].expand(B, K, N, frames_per_item))


def factorize(samples: torch.Tensor, generator: tp.Optional[torch.Generator] = None) -> torch.Tensor:
    """Samples of the factorized distribution by shuffling each codebook independently.

    Each codebook k gets its own uniform permutation of the S samples (``torch.randperm`` drawn
    with ``generator`` on the generator's device, or CPU, then moved to ``samples.device``).
    All K codebooks are permuted, as in Algorithm 1; permuting only K-1 of them gives the same
    distribution of factorized samples.

    Args:
        samples: [S, K, N] joint samples.
        generator: optional random generator.
    Returns:
        [S, K, N] factorized samples; differentiable w.r.t. ``samples``.
    """
    S, K = samples.shape[0], samples.shape[1]
    device = _generator_device(generator)
    perms = torch.stack([torch.randperm(S, generator=generator, device=device) for _ in range(K)], dim=1)
    codebooks = torch.arange(K, device=samples.device)
    return samples[perms.to(samples.device), codebooks]


NEAR_IDENTICAL_SQDIST = 1e-8  # median squared distance below which the samples are taken as identical


@dataclasses.dataclass
class KernelDiagnostics:
    """What the kernel sees on a subsample of pairs (see :func:`kernel_diagnostics`).

    Attributes:
        num_samples: samples used (all pairs among them are evaluated).
        median_sqdist: median squared distance over the pairs.
        component_means: mean value of each bandwidth term over the pairs.
        component_at_median: value of each bandwidth term at the median squared distance.
        active_fraction: fraction of bandwidth terms neither ~0 nor ~1 at the median distance.
        collapsed: every bandwidth term is ~0 on all pairs or ~1 on all pairs.
    """
    num_samples: int
    median_sqdist: float
    component_means: tp.List[float]
    component_at_median: tp.List[float]
    active_fraction: float
    collapsed: bool


def kernel_diagnostics(x: torch.Tensor, kernel: Kernel, max_samples: int = 256,
                       tol: float = 1e-4) -> KernelDiagnostics:
    """Check whether ``kernel`` is informative on samples ``x`` [S, D].

    Uses at most ``max_samples`` evenly spaced samples (no randomness) and all pairs among them.
    A bandwidth term has collapsed when it is below ``tol`` on every pair or above ``1 - tol`` on
    every pair: it is then constant and the MMD gets no signal from it. Kernels without a
    bandwidth (linear, quadratic) never report a collapse.
    """
    with torch.no_grad(), torch.autocast(device_type=x.device.type, enabled=False):
        x = x.detach()
        x = x.to(torch.float64 if x.dtype == torch.float64 else torch.float32)
        n = min(max_samples, x.shape[0])
        if n < 2:
            raise ValueError(f"kernel_diagnostics needs at least 2 samples, got {x.shape[0]}.")
        sub = _evenly_spaced(x, n)
        sub = sub - sub.mean(dim=0)
        rows, cols = torch.triu_indices(n, n, offset=1, device=x.device)
        d2 = pairwise_sqdist(sub, sub)[rows, cols]
        median = d2.median()
        comps = kernel.components(d2)
        if comps is None:
            return KernelDiagnostics(n, float(median), [], [], 1.0, False)
        at_median = kernel.components(median.reshape(1))[:, 0]
        dead = ((comps <= tol).all(dim=1) | (comps >= 1 - tol).all(dim=1))
        active = ((at_median > tol) & (at_median < 1 - tol)).to(torch.float64).mean()
        return KernelDiagnostics(
            num_samples=n, median_sqdist=float(median), component_means=comps.mean(dim=1).tolist(),
            component_at_median=at_median.tolist(), active_fraction=float(active),
            collapsed=bool(dead.all()))


def _bandwidth_hint(kernel: Kernel, median_sqdist: float) -> str:
    if median_sqdist <= NEAR_IDENTICAL_SQDIST:
        return ("the samples are (nearly) identical: is the training audio silent, or are the codes fed to the "
                "loss constant?")
    if kernel.name == "multiscale_gaussian":
        base = math.sqrt(median_sqdist / 2)  # exp(-d2 / (2 sigma^2)) = exp(-1) at the median
        sigmas = ", ".join(f"{base * f:.3g}" for f in (0.25, 0.5, 1, 2, 4))
        return f"use sigmas at that scale, e.g. sigmas=({sigmas})"
    return f"use sigma at that scale, e.g. sigma={math.sqrt(median_sqdist):.3g}"


class MMDLoss(nn.Module):
    """Independence-promoting loss of Algorithm 1: MMD^2 between joint and factorized codes.

    Args:
        kernel: a name from :data:`~.kernels.KERNELS` or a :class:`~.kernels.Kernel`.
        alignment: ``delay`` (match MusicGen's delay pattern), ``parallel`` or ``pattern`` (the codes any
            AudioCraft codebooks pattern predicts in one step, see :mod:`audiocraft_mmd.alignment`).
        pattern: with ``alignment='pattern'``, the codebooks pattern config (``transformer_lm``'s
            ``codebooks_pattern`` format, e.g. ``{'modeling': 'coarse_first'}``).
        kernel_params: parameters for :func:`~.kernels.build_kernel` (only with a kernel name).
        frames_per_item: if set, keep that many random aligned frames per item (per group) to bound S.
        chunk_size: rows per block in :func:`mmd2_unbiased`.
        scale: ``fixed`` (paper: samples as they are), ``standardized`` or ``median`` (blind to the
            latent's overall scale), see :func:`scale_samples`.
        collapse_check_every: refresh ``last_diagnostics`` (see :func:`kernel_diagnostics`) on the
            first call and every that many calls, warning once per instance on collapse; 0 disables.
        gather: one MMD over all ranks of an initialised process group. Each rank's joint samples (after
            alignment and frame selection) are all-gathered in rank order, the factorized samples are
            drawn from the global set (``generator`` must then draw the same on every rank), the value is
            the global MMD on every rank, and its gradient reaches this rank's samples only, scaled by the
            world size so that averaging gradients over ranks gives the gradient of the global MMD
            (:func:`~.gather.local_gradient_scale`). Without a process group it changes nothing.

    Attributes:
        calls: forward calls so far; the check runs on calls 0, every, 2 * every... (a solver that
            resumes sets it to its count of MMD steps, so the diagnostics are those of an uninterrupted run).
        checked: whether the last call refreshed ``last_diagnostics``.
        last_scale_free: on the calls that refresh ``last_diagnostics``, the MMD of the same samples with
            ``scale="standardized"`` (blind to the latent's scale: what `ShrinkageWatch` compares the trained MMD
            with), else None. It draws nothing, so it changes no later draw.
    """

    @classmethod
    def from_config(cls, config: "MMDConfig", scale: tp.Optional[str] = None, collapse_check_every: int = 0,
                    gather: tp.Optional[bool] = None) -> "MMDLoss":
        """The loss of an `MMDConfig` (a solver's ``mmd:`` block); ``scale`` replaces ``mmd.scale`` (the
        measurement compares codecs at fixed and standardized scales whatever they trained with) and ``gather``
        ``mmd.gather`` (the codec meter gathers its macro-batches itself)."""
        return cls(kernel=config.kernel, alignment=config.alignment, pattern=config.pattern,
                   kernel_params=config.kernel_params, frames_per_item=config.frames_per_item,
                   chunk_size=config.chunk_size, scale=config.scale if scale is None else scale,
                   collapse_check_every=collapse_check_every, gather=config.gather if gather is None else gather)

    def __init__(self, kernel: tp.Union[str, Kernel] = "multiscale_gaussian", alignment: str = "delay",
                 kernel_params: tp.Optional[tp.Dict[str, tp.Any]] = None,
                 frames_per_item: tp.Optional[int] = None, chunk_size: tp.Optional[int] = None,
                 collapse_check_every: int = 100, scale: str = "fixed",
                 pattern: tp.Optional[PatternConfig] = None, gather: bool = False):
        super().__init__()
        problems = loss_problems(alignment, pattern, kernel, kernel_params, scale, frames_per_item, chunk_size)
        if collapse_check_every < 0:
            problems.append(f"collapse_check_every must be >= 0, got {collapse_check_every}.")
        if problems:
            raise ValueError(' '.join(problems))
        self.kernel = kernel if isinstance(kernel, Kernel) else build_kernel(kernel, **(kernel_params or {}))
        self.alignment = alignment
        self.pattern = dict(pattern) if alignment == "pattern" and pattern is not None else None
        self.scale = scale
        self.gather = gather
        self.frames_per_item = frames_per_item
        self.chunk_size = chunk_size
        self.collapse_check_every = collapse_check_every
        self.last_diagnostics: tp.Optional[KernelDiagnostics] = None
        self.calls = 0
        self.checked = False
        self.last_scale_free: tp.Optional[float] = None
        self._collapse_warned = False

    def groups(self, num_codebooks: int) -> tp.Tuple[CodeGroup, ...]:
        """The groups of codes whose independence the loss promotes, for K codebooks."""
        return code_groups(num_codebooks, self.alignment, self.pattern)

    def group_samples(self, codes: torch.Tensor, generator: tp.Optional[torch.Generator] = None,
                      past: tp.Optional[tp.Sequence[torch.Tensor]] = None
                      ) -> tp.List[tp.Tuple[CodeGroup, torch.Tensor, torch.Tensor]]:
        """For each group of :meth:`groups`: the group, its joint and factorized samples [S_g, K_g * N].

        Args:
            codes: [B, K, N, T] per-codebook code vectors.
            generator: draws the frame subsets and the permutations, group after group.
            past: per group, joint samples [P_g, K_g * N] of earlier batches (values, e.g. a
                :class:`~.sample_bank.SampleBank`'s), put before this batch's (after the gather): the factorized
                samples are drawn from all of them, and S_g = P_g + this batch's samples.
        """
        if codes.dim() != 4:
            raise ValueError(f"codes must be [B, K, N, T], got shape {tuple(codes.shape)}.")
        if not codes.is_floating_point():
            raise ValueError(f"codes must hold the (float) code vectors, got dtype {codes.dtype}.")
        B, K, N, T = codes.shape
        groups = self.groups(K)  # K >= 2
        if past is not None and len(past) != len(groups):
            raise ValueError(f"past holds the samples of {len(past)} groups of codes, the loss has {len(groups)}.")
        out = []
        for index, group in enumerate(groups):
            if group.length(T) == 0:
                raise ValueError(f"The {self.alignment} alignment reads codes {group.span} frames apart "
                                 f"({group.describe()}): it needs at least {group.span + 1} frames, got T={T}.")
            aligned = select_frames(group.take(codes), self.frames_per_item, generator)
            frames = aligned.shape[-1]
            S, size = B * frames, len(group.codebooks)
            if S < 2:
                raise ValueError(f"The MMD needs at least 2 samples on each side, got S = B * T' = "
                                 f"{B} * {frames} = {S} (T={T}, alignment={self.alignment!r}).")
            joint = aligned.permute(0, 3, 1, 2).reshape(S, size, N)
            if self.gather:
                joint = gather_rows(joint)
            if past is not None and past[index].shape[0]:
                joint = torch.cat([past[index].detach().to(joint).reshape(-1, size, N), joint])
            S = joint.shape[0]
            factorized = factorize(joint, generator)
            out.append((group, joint.reshape(S, size * N), factorized.reshape(S, size * N)))
        return out

    def samples(self, codes: torch.Tensor, generator: tp.Optional[torch.Generator] = None
                ) -> tp.Tuple[torch.Tensor, torch.Tensor]:
        """Joint and factorized samples, each [S, K * N], from ``codes`` [B, K, N, T], for an alignment
        whose steps form one group (``delay``, ``parallel``, most patterns); see :meth:`group_samples`."""
        groups = self.group_samples(codes, generator)
        if len(groups) != 1:
            raise ValueError(f"This pattern predicts {len(groups)} groups of codes: use group_samples().")
        return groups[0][1], groups[0][2]

    def forward(self, codes: torch.Tensor, generator: tp.Optional[torch.Generator] = None) -> torch.Tensor:
        """MMD^2 between joint and factorized samples of ``codes``, after :func:`scale_samples`
        (the collapse check sees the scaled samples, as the kernel does); with several groups, their
        MMDs weighted by their share of the steps (:func:`audiocraft_mmd.alignment.group_weights`).

        Args:
            codes: [B, K, N, T] per-codebook code vectors (K codebooks of dimension N, T frames).
            generator: optional generator for the frame subset and the permutations.
        Returns:
            0-dim float32 tensor (float64 for float64 codes), differentiable w.r.t. ``codes``.
        """
        return self.loss_of_samples(self.group_samples(codes, generator))

    def loss_of_samples(self, groups: tp.Sequence[tp.Tuple[CodeGroup, torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """The loss of :meth:`forward` on the output of :meth:`group_samples` (joint and factorized samples
        [S_g, K_g * N] of each group): scaled, collapse-checked, weighted over groups; 0-dim float32 (float64)."""
        scaled = [scale_samples(x, y, self.scale) for _, x, y in groups]
        self._check_collapse([x for x, _ in scaled])
        weights = group_weights([group for group, _, _ in groups])
        losses = [mmd2_unbiased(x, y, self.kernel, self.chunk_size) for x, y in scaled]
        loss = losses[0] if len(losses) == 1 else sum(w * loss for w, loss in zip(weights, losses))
        self.last_scale_free = None
        if self.checked:
            self.last_scale_free = self._scale_free([(x, y) for _, x, y in groups], weights) \
                if self.scale != "standardized" else float(loss.detach())
        return local_gradient_scale(loss) if self.gather else loss

    @torch.no_grad()
    def _scale_free(self, samples: tp.Sequence[tp.Tuple[torch.Tensor, torch.Tensor]], weights: tp.Sequence[float]
                    ) -> float:
        """The MMD of the same joint and factorized samples after ``scale="standardized"`` (no draw, no grad)."""
        values = [mmd2_unbiased(*scale_samples(x.detach(), y.detach(), "standardized"), self.kernel, self.chunk_size)
                  for x, y in samples]
        return float(values[0] if len(values) == 1 else sum(w * v for w, v in zip(weights, values)))

    def _check_collapse(self, samples: tp.Sequence[torch.Tensor]) -> None:
        every = self.collapse_check_every
        self.calls += 1
        self.checked = every > 0 and (self.calls - 1) % every == 0
        if not self.checked:
            return
        for x in samples:  # one group's samples each; the last diagnostics kept are the first no-signal group's
            diag = kernel_diagnostics(x, self.kernel)
            self.last_diagnostics = diag
            no_signal = diag.collapsed or (bool(diag.component_at_median) and diag.active_fraction == 0)
            if no_signal:
                break
        if no_signal and not self._collapse_warned:
            self._collapse_warned = True
            what = ("every bandwidth gives kernel values ~0 or ~1 on all pairs" if diag.collapsed else
                    "every bandwidth gives a kernel value ~0 or ~1 there")
            msg = (f"MMD kernel {self.kernel!r} sees no signal: at the median squared distance between samples "
                   f"({diag.median_sqdist:.4g}, over {diag.num_samples} samples) {what}, so the loss carries "
                   f"almost no signal; {_bandwidth_hint(self.kernel, diag.median_sqdist)}.")
            warnings.warn(msg, RuntimeWarning, stacklevel=3)

    def extra_repr(self) -> str:
        pattern = (f", pattern={self.pattern!r}" if self.pattern else "") + (", gather=True" if self.gather else "")
        return (f"kernel={self.kernel!r}, alignment={self.alignment!r}{pattern}, scale={self.scale!r}, "
                f"frames_per_item={self.frames_per_item}, chunk_size={self.chunk_size}")
