"""Accumulates the raw audio of training batches until one MMD macro-batch is complete."""
import typing as tp

import torch


class MacroBatch:
    """Raw audio of the last training batches, waiting for the step that completes the macro-batch.

    Batches are kept detached on CPU, so the buffer costs no accelerator memory between MMD steps.

    Args:
        num_batches: number of batches that make a full macro-batch.
    """
    def __init__(self, num_batches: int):
        if num_batches < 1:
            raise ValueError(f"num_batches must be >= 1, got {num_batches}")
        self.num_batches = num_batches
        self._pending: tp.List[torch.Tensor] = []
        self.completed = 0  # macro-batches used so far in this run (kept in checkpoints)

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def full(self) -> bool:
        return len(self._pending) >= self.num_batches

    def add(self, audio: torch.Tensor) -> None:
        """Store one batch [B, C, L]."""
        self._pending.append(audio.detach().cpu())

    def pop(self) -> torch.Tensor:
        """Return the pending batches concatenated [sum B, C, L] and start a new macro-batch."""
        if not self._pending:
            raise RuntimeError("No pending batch in the macro-batch.")
        audio = torch.cat(self._pending, dim=0)
        self._pending = []
        self.completed += 1
        return audio

    def clear(self) -> None:
        """Drop the pending batches (the start of each training epoch)."""
        self._pending = []

    def state_dict(self) -> tp.Dict[str, int]:
        return {'completed': self.completed}

    def load_state_dict(self, state: tp.Dict[str, int]) -> None:
        self.completed = int(state['completed'])
        self._pending = []
