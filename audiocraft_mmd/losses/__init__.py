"""Independence-promoting MMD loss between codebooks (paper Section 3, Algorithm 1)."""
from .kernels import (
    KERNELS,
    Kernel,
    LinearKernel,
    MultiScaleGaussianKernel,
    QuadraticKernel,
    SquaredInverseKernel,
    build_kernel,
)
from .mmd import (
    ALIGNMENTS,
    KernelDiagnostics,
    MMDLoss,
    SCALES,
    default_chunk_size,
    factorize,
    kernel_diagnostics,
    mmd2_unbiased,
    scale_samples,
    select_frames,
)
from .config import MODES, MMDConfig, MMDConfigError
from .sample_bank import SampleBank
from .shrinkage import ShrinkageWatch

__all__ = [
    "ALIGNMENTS",
    "KERNELS",
    "Kernel",
    "KernelDiagnostics",
    "LinearKernel",
    "MMDConfig",
    "MMDConfigError",
    "MMDLoss",
    "MODES",
    "MultiScaleGaussianKernel",
    "QuadraticKernel",
    "SCALES",
    "SampleBank",
    "ShrinkageWatch",
    "SquaredInverseKernel",
    "build_kernel",
    "default_chunk_size",
    "factorize",
    "kernel_diagnostics",
    "mmd2_unbiased",
    "scale_samples",
    "select_frames",
]
