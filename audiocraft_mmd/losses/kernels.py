"""Kernels for the MMD independence loss (paper Section 3, Table 3).

Every kernel is a scalar function of one pairwise statistic:

- ``"sqdist"``: the squared Euclidean distance ``d2 = ||x - y||^2`` (multi-scale Gaussian,
  squared inverse);
- ``"dot"``: the inner product ``p = x . y`` (linear, quadratic).

Given a block of statistics ``s`` of shape [R, C], :meth:`Kernel.evaluate` returns the kernel
values ``k(s)`` and, on request, the derivative ``dk/ds``. This is all the chunked MMD needs for
an analytic backward:

- ``sqdist``: ``dk(x_i, y_j)/dx_i = 2 W_ij (x_i - y_j)`` and ``dk/dy_j = -2 W_ij (x_i - y_j)``,
- ``dot``: ``dk(x_i, y_j)/dx_i = W_ij y_j`` and ``dk/dy_j = W_ij x_i``,

with ``W = dk/ds``, so the gradient of a block costs a couple of matrix products.
"""
import math
import typing as tp

import torch


_LN2 = math.log(2.0)


def _underflow_exponent(dtype: torch.dtype) -> float:
    """A bound ``a`` such that ``exp(-t)`` rounds to exactly 0 in ``dtype`` for every ``t > a``."""
    finfo = torch.finfo(dtype)
    return -math.log(finfo.smallest_normal * finfo.eps) + 2.0  # below half the smallest subnormal


def pairwise_sqdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances with the GEMM expansion ``|a|^2 + |b|^2 - 2 a.b``, clamped at 0.

    Args:
        a: [R, D] rows.
        b: [C, D] columns.
    Returns:
        [R, C] tensor of squared distances.
    """
    d2 = torch.addmm(b.pow(2).sum(dim=1).unsqueeze(0), a, b.t(), beta=1, alpha=-2)
    d2.add_(a.pow(2).sum(dim=1).unsqueeze(1))
    return d2.clamp_min_(0)


def pairwise_statistic(statistic: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Statistic ``"sqdist"`` or ``"dot"`` between rows of ``a`` [R, D] and ``b`` [C, D] -> [R, C]."""
    if statistic == "sqdist":
        return pairwise_sqdist(a, b)
    if statistic == "dot":
        return a @ b.t()
    raise ValueError(f"Unknown kernel statistic {statistic!r}, expected 'sqdist' or 'dot'.")


class Kernel:
    """Base class: a kernel ``k(x, y) = f(s(x, y))`` of a pairwise statistic ``s``.

    Subclasses set :attr:`name` and :attr:`statistic` (``"sqdist"`` or ``"dot"``) and implement
    :meth:`value` and :meth:`evaluate`; they may override :meth:`block_sums` with a faster path.
    Kernels with bandwidths also implement :meth:`components`, used to detect a collapsed kernel
    (every value ~0 or ~1).
    """
    name: str = ""
    statistic: str = ""
    params: tp.Tuple[str, ...] = ()  # the keyword arguments of ``__init__`` (what :func:`build_kernel` accepts)
    uses_s_min: bool = False  # whether block_sums() makes use of the ``s_min`` hint

    def value(self, s: torch.Tensor) -> torch.Tensor:
        """Kernel values ``f(s)`` for a statistic ``s`` of any shape, out of place (autograd safe)."""
        raise NotImplementedError

    def evaluate(self, s: torch.Tensor, need_grad: bool = False, s_min: tp.Optional[float] = None
                 ) -> tp.Tuple[torch.Tensor, tp.Optional[torch.Tensor]]:
        """Kernel values and derivative w.r.t. the statistic, computed in place where possible
        (fast path of the chunked MMD; not meant to be differentiated through).

        Args:
            s: [R, C] statistic (squared distances or inner products). May be overwritten.
            need_grad: also return ``dk/ds``.
            s_min: optional lower bound of ``s`` over the block, a hint that lets distance kernels
                skip terms that underflow to exactly 0.
        Returns:
            ``(values, deriv)``, both [R, C] (``deriv`` is None unless ``need_grad``).
        """
        raise NotImplementedError

    def block_sums(self, s: torch.Tensor, need_grad: bool = False, mask_diagonal: bool = False,
                   s_min: tp.Optional[float] = None) -> tp.Tuple[torch.Tensor, tp.Optional[torch.Tensor]]:
        """Row sums of the kernel values of a block and derivative w.r.t. the statistic.

        Args:
            s: [R, C] statistic. May be overwritten.
            need_grad: also return ``dk/ds``.
            mask_diagonal: exclude the diagonal pairs ``i == j`` (square block of a set against
                itself): their values and derivatives count as 0, whatever ``s`` holds there.
            s_min: optional lower bound of ``s`` off the diagonal, see :meth:`evaluate`.
        Returns:
            ``(row_sums [R], deriv [R, C] or None)``.
        """
        values, deriv = self.evaluate(s, need_grad=need_grad, s_min=s_min)
        if mask_diagonal:
            values.fill_diagonal_(0)
            if deriv is not None:
                deriv.fill_diagonal_(0)
        return values.sum(dim=1), deriv

    def components(self, s: torch.Tensor) -> tp.Optional[torch.Tensor]:
        """Per-bandwidth kernel terms [n_bandwidths, *s.shape] with values in [0, 1], or None
        for kernels without a bandwidth (which cannot collapse in that sense)."""
        return None

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Full kernel matrix between ``x`` [S, D] and ``y`` [M, D] -> [S, M] (small inputs only)."""
        return self.value(pairwise_statistic(self.statistic, x, y))

    def _params_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._params_repr()})"


class MultiScaleGaussianKernel(Kernel):
    """``k(x, y) = sum_i exp(-||x - y||^2 / (2 sigma_i^2))`` (paper eq. (7) kernel).

    Args:
        sigmas: bandwidths (standard deviations, not variances), all > 0.
    """
    name = "multiscale_gaussian"
    statistic = "sqdist"
    params = ("sigmas",)
    uses_s_min = True

    def __init__(self, sigmas: tp.Sequence[float] = (0.1, 1, 5, 10, 20, 50)):
        try:
            sigmas = tuple(float(s) for s in sigmas)
        except TypeError:
            raise ValueError(f"sigmas must be a sequence of positive numbers, got {sigmas!r}.") from None
        if not sigmas:
            raise ValueError("sigmas must contain at least one bandwidth, got an empty sequence.")
        if any(not (s > 0 and math.isfinite(s)) for s in sigmas):
            raise ValueError(f"sigmas must all be positive and finite, got {sigmas}.")
        self.sigmas = sigmas
        # exp(-d2 * gamma) with gamma = 1 / (2 sigma^2).
        self.gammas = tuple(1.0 / (2.0 * s * s) for s in sigmas)

    def evaluate(self, s: torch.Tensor, need_grad: bool = False, s_min: tp.Optional[float] = None
                 ) -> tp.Tuple[torch.Tensor, tp.Optional[torch.Tensor]]:
        limit = _underflow_exponent(s.dtype)
        values: tp.Optional[torch.Tensor] = None
        deriv: tp.Optional[torch.Tensor] = None
        term: tp.Optional[torch.Tensor] = None
        for gamma in self.gammas:
            if s_min is not None and s_min * gamma > limit:
                continue  # exp(-gamma * d2) is exactly 0 on the whole block.
            if values is None:
                values = torch.mul(s, -gamma).exp_()
                if need_grad:
                    deriv = torch.mul(values, -gamma)
                continue
            term = torch.empty_like(s) if term is None else term  # one buffer for all bandwidths
            torch.mul(s, -gamma, out=term).exp_()
            values.add_(term)
            if deriv is not None:
                deriv.add_(term, alpha=-gamma)
        if values is None:
            values = torch.zeros_like(s)
            if need_grad:
                deriv = torch.zeros_like(s)
        return values, deriv

    def value(self, s: torch.Tensor) -> torch.Tensor:
        return self.components(s).sum(dim=0)

    def block_sums(self, s: torch.Tensor, need_grad: bool = False, mask_diagonal: bool = False,
                   s_min: tp.Optional[float] = None) -> tp.Tuple[torch.Tensor, tp.Optional[torch.Tensor]]:
        # Fast path: the value matrix is never built, only its row sums, and exp(-g d2) is
        # computed as exp2(-g d2 / ln 2), which is cheaper. An infinite distance on the diagonal
        # gives exactly 0 for the value and the derivative.
        if mask_diagonal:
            s.fill_diagonal_(math.inf)
        limit = _underflow_exponent(s.dtype)
        row_sums: tp.Optional[torch.Tensor] = None
        deriv: tp.Optional[torch.Tensor] = None
        term: tp.Optional[torch.Tensor] = None
        for gamma in self.gammas:
            if s_min is not None and s_min * gamma > limit:
                continue  # exp(-gamma * d2) is exactly 0 on the whole block.
            term = torch.empty_like(s) if term is None else term
            torch.mul(s, -gamma / _LN2, out=term).exp2_()
            sums = term.sum(dim=1)
            row_sums = sums if row_sums is None else row_sums.add_(sums)
            if need_grad:
                deriv = torch.mul(term, -gamma) if deriv is None else deriv.add_(term, alpha=-gamma)
        if row_sums is None:
            row_sums = s.new_zeros(s.shape[0])
            if need_grad:
                deriv = torch.zeros_like(s)
        return row_sums, deriv

    def components(self, s: torch.Tensor) -> torch.Tensor:
        gammas = torch.tensor(self.gammas, dtype=s.dtype, device=s.device)
        return torch.exp(-gammas.view(-1, *([1] * s.dim())) * s.unsqueeze(0))

    def _params_repr(self) -> str:
        return f"sigmas={self.sigmas}"


class SquaredInverseKernel(Kernel):
    """``k(x, y) = (1 + ||x - y||^2 / sigma^2)^-1`` (paper Table 3).

    Args:
        sigma: bandwidth, > 0.
    """
    name = "squared_inverse"
    statistic = "sqdist"
    params = ("sigma",)

    def __init__(self, sigma: float = 12.0):
        try:
            sigma = float(sigma)
        except (TypeError, ValueError):
            raise ValueError(f"sigma must be a positive number, got {sigma!r}.") from None
        if not (sigma > 0 and math.isfinite(sigma)):
            raise ValueError(f"sigma must be positive and finite, got {sigma}.")
        self.sigma = sigma

    def evaluate(self, s: torch.Tensor, need_grad: bool = False, s_min: tp.Optional[float] = None
                 ) -> tp.Tuple[torch.Tensor, tp.Optional[torch.Tensor]]:
        inv_s2 = 1.0 / (self.sigma * self.sigma)
        values = torch.mul(s, inv_s2).add_(1.0).reciprocal_()
        deriv = None
        if need_grad:
            deriv = torch.mul(values, values).mul_(-inv_s2)  # d/dd2 (1 + d2/s^2)^-1
        return values, deriv

    def value(self, s: torch.Tensor) -> torch.Tensor:
        return 1.0 / (1.0 + s / (self.sigma * self.sigma))

    def components(self, s: torch.Tensor) -> torch.Tensor:
        return self.value(s).unsqueeze(0)

    def _params_repr(self) -> str:
        return f"sigma={self.sigma:g}"


class LinearKernel(Kernel):
    """``k(x, y) = x . y`` (paper Table 3)."""
    name = "linear"
    statistic = "dot"

    def value(self, s: torch.Tensor) -> torch.Tensor:
        return s.clone()

    def evaluate(self, s: torch.Tensor, need_grad: bool = False, s_min: tp.Optional[float] = None
                 ) -> tp.Tuple[torch.Tensor, tp.Optional[torch.Tensor]]:
        return s, (torch.ones_like(s) if need_grad else None)


class QuadraticKernel(Kernel):
    """``k(x, y) = (x . y)^2`` (paper Table 3)."""
    name = "quadratic"
    statistic = "dot"

    def value(self, s: torch.Tensor) -> torch.Tensor:
        return s.square()

    def evaluate(self, s: torch.Tensor, need_grad: bool = False, s_min: tp.Optional[float] = None
                 ) -> tp.Tuple[torch.Tensor, tp.Optional[torch.Tensor]]:
        deriv = torch.mul(s, 2.0) if need_grad else None
        return s.square_(), deriv


_REGISTRY: tp.Dict[str, tp.Type[Kernel]] = {
    cls.name: cls for cls in (MultiScaleGaussianKernel, SquaredInverseKernel, LinearKernel, QuadraticKernel)}
KERNELS: tp.Tuple[str, ...] = tuple(_REGISTRY)
"""Names accepted by :func:`build_kernel`."""


def build_kernel(name: str, **params: tp.Any) -> Kernel:
    """Build a kernel by name.

    Args:
        name: one of :data:`KERNELS`: ``multiscale_gaussian`` (``sigmas``, default
            (0.1, 1, 5, 10, 20, 50)), ``squared_inverse`` (``sigma``, default 12),
            ``linear``, ``quadratic``.
        **params: the kernel's parameters.
    Raises:
        ValueError: unknown name, unknown parameter or invalid value.
    """
    if name not in _REGISTRY:
        raise ValueError(f"Unknown kernel {name!r}; valid kernels are: {', '.join(KERNELS)}.")
    allowed = _REGISTRY[name].params
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown parameter(s) {', '.join(unknown)} for kernel {name!r}; "
                         f"accepted: {', '.join(allowed) if allowed else 'none'}.")
    return _REGISTRY[name](**params)
