"""audiocraft-mmd: the independence-promoting MMD loss of EnCodec-MMD (ICML 2024) as an AudioCraft plugin.

Subpackages: `audiocraft_mmd.losses` (kernels, eq. (7), `MMDLoss`), `audiocraft_mmd.quantization`
(per-codebook RVQ vectors), `audiocraft_mmd.solvers` (`CompressionMMDSolver`). The Dora main is
`audiocraft_mmd.train` (``dora -P audiocraft_mmd ...``).
"""
__version__ = '0.1.0'

from .versions import check_torch

check_torch()
