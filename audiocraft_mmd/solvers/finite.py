"""Stop a run whose loss turns non-finite at that step, before it can save a NaN model over a good checkpoint."""
import math
import typing as tp

import torch

from ..errors import NonFiniteLossError


def non_finite_metrics(metrics: tp.Mapping[str, tp.Any]) -> tp.Dict[str, float]:
    """The scalar entries of a step's ``metrics`` (losses, gradient norms, the MMD's) that are NaN or +-Inf."""
    found = {}
    for name, value in metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = float(value.detach())
        if isinstance(value, float) and not math.isfinite(value):
            found[name] = value
    return found


def non_finite_loss_error(solver: tp.Any, idx: int, what: str) -> NonFiniteLossError:
    """The error that stops ``solver`` (an audiocraft ``StandardSolver``) at training step ``idx`` (0-based in the
    epoch) for ``what`` (which values are not finite), naming the step, the last good checkpoint and what would work."""
    updates = solver.train_updates_per_epoch
    checkpoint = solver.checkpoint_path()
    if checkpoint.exists():
        last = (f"the last good checkpoint is {checkpoint} (epoch {solver.epoch - 1}), which rerunning the same "
                "command resumes from")
    else:
        last = f"no checkpoint was saved yet ({checkpoint.name} does not exist)"
    return NonFiniteLossError(
        f"training stopped at epoch {solver.epoch}, step {idx + 1} of {updates} (update "
        f"{(solver.epoch - 1) * updates + idx + 1}): {what}; nothing was saved and {last}. Look for NaN "
        "or Inf samples in the training audio, or lower optim.lr.")


def describe_non_finite(found: tp.Mapping[str, float], limit: int = 12) -> str:
    """``found`` (`non_finite_metrics`) as ``name=value`` pairs, at most ``limit`` of them."""
    shown = ', '.join(f"{name}={value}" for name, value in list(found.items())[:limit])
    return shown + (f" and {len(found) - limit} more" if len(found) > limit else '')
