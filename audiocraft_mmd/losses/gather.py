"""One MMD over all ranks (``mmd.gather``): every rank's samples in one macro-batch, each rank's gradient
through its own samples only."""
import torch
from torch import distributed


def world() -> tuple:
    """(rank, world size) of the initialised process group, (0, 1) without one."""
    if distributed.is_available() and distributed.is_initialized():
        return distributed.get_rank(), distributed.get_world_size()
    return 0, 1


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Every rank's rows of ``x`` [S_r, ...], concatenated in rank order -> [sum_r S_r, ...].

    This rank's rows are ``x`` itself (they keep their gradient); the other ranks' are constants. Ranks may
    hold different numbers of rows. Without a process group (or with one rank) returns ``x``.
    """
    rank, world_size = world()
    if world_size == 1:
        return x
    size = torch.tensor([x.shape[0]], device=x.device, dtype=torch.long)
    sizes = [torch.zeros_like(size) for _ in range(world_size)]
    distributed.all_gather(sizes, size)
    counts = [int(s.item()) for s in sizes]
    padded = x.detach().new_zeros((max(counts), *x.shape[1:]))
    padded[:x.shape[0]] = x.detach()
    parts = [torch.empty_like(padded) for _ in range(world_size)]
    distributed.all_gather(parts, padded.contiguous())
    rows = [part[:count] for part, count in zip(parts, counts)]
    rows[rank] = x
    return torch.cat(rows, dim=0)


def local_gradient_scale(loss: torch.Tensor) -> torch.Tensor:
    """Same value as ``loss``, gradient times the world size.

    Each rank backpropagates the global MMD through its own samples only, then the solver averages the
    gradients over ranks (``flashy.distrib.sync_model``): with this factor the average is the gradient of
    the global MMD with respect to all samples, as one rank holding the whole macro-batch would get.
    """
    _, world_size = world()
    if world_size == 1:
        return loss
    return loss + (world_size - 1) * (loss - loss.detach())
