"""Which codes of the K codebooks form one sample: the one alignment of the MMD loss, the dependence
metric and the config checks.

- ``delay``: the K codes MusicGen's delay pattern predicts in one step, ``(z_0[t], z_1[t-1], ...,
  z_{K-1}[t-K+1])``; codebook k is sliced ``[K-1-k : T-k]``, so K-1 frames are cropped (T' = T-K+1);
- ``parallel``: the K codes of one frame, ``(z_0[t], ..., z_{K-1}[t])`` (T' = T).
"""
import typing as tp

import numpy as np
import torch

ALIGNMENTS: tp.Tuple[str, ...] = ('delay', 'parallel')
"""Valid alignments; ``delay`` (the paper's) first."""

Codes = tp.TypeVar('Codes', torch.Tensor, np.ndarray)


def check_alignment(alignment: str) -> None:
    """Raise `ValueError` naming the valid alignments when ``alignment`` is not one."""
    if alignment not in ALIGNMENTS:
        raise ValueError(f"Unknown alignment {alignment!r}; expected one of {', '.join(map(repr, ALIGNMENTS))}.")


def aligned_length(num_frames: int, num_codebooks: int, alignment: str) -> int:
    """T': aligned samples per clip of ``num_frames`` frames (0 when delay has fewer frames than codebooks)."""
    check_alignment(alignment)
    if alignment == 'parallel':
        return num_frames
    return max(num_frames - num_codebooks + 1, 0)


def align(codes: Codes, alignment: str) -> Codes:
    """Align the codebooks of ``codes`` [B, K, ..., T] (a tensor or an array) -> [B, K, ..., T'].

    ``parallel`` returns ``codes`` itself. ``delay`` with T < K returns T' = 0 frames.
    """
    check_alignment(alignment)
    if codes.ndim < 3:
        raise ValueError(f"codes must be [B, K, ..., T], got shape {tuple(codes.shape)}.")
    if alignment == 'parallel':
        return codes
    K, T = codes.shape[1], codes.shape[-1]
    steps = aligned_length(T, K, alignment)
    parts = [codes[:, k, ..., K - 1 - k:K - 1 - k + steps] for k in range(K)]
    return torch.stack(parts, dim=1) if isinstance(codes, torch.Tensor) else np.stack(parts, axis=1)
