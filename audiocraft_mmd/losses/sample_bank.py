"""An MMD at every training step over the last ``num_batches`` batches, with the graph of the current one only
(``mmd.mode: bank``).

The gradient of the MMD with respect to one batch's samples needs only the *values* of the other samples. A
:class:`SampleBank` keeps the joint samples of the previous ``num_batches - 1`` batches, detached, first in first
out; each call computes the MMD of :class:`~.mmd.MMDLoss` over the bank and the current batch (factorized samples
drawn from all of them) and then adds the current batch's values to the bank. Over ``num_batches`` steps every
sample receives its share of the gradient once, as in a macro-batch, with the values of the others up to
``num_batches - 1`` steps old.

From a plain training loop::

    bank = SampleBank(MMDLoss(alignment='delay', frames_per_item=5), num_batches=32)
    for audio in loader:
        emb = encoder(audio)                                  # [B, D, T]
        out = quantizer(emb, frame_rate)                      # the first call initialises the codebooks
        vectors = codebook_vectors(quantizer, emb)            # [B, K, N, T], with its graph
        loss = reconstruction(decoder(out.x), audio) + out.penalty + weight * bank(vectors, generator)
        loss.backward(); optimizer.step(); optimizer.zero_grad()
    bank.clear()                                              # e.g. at each epoch start
"""
import collections
import typing as tp

import torch

from .mmd import MMDLoss


class SampleBank:
    """First-in first-out bank of the joint samples of the last ``num_batches - 1`` batches.

    Per group of codes g of the loss's alignment (one for ``delay`` and ``parallel``), each stored batch holds the
    joint samples [S_b, K_g * N] that :meth:`MMDLoss.group_samples` made of it: after the alignment, the frame
    selection of ``frames_per_item`` and, with ``loss.gather``, the all-gather over ranks (every rank then keeps
    the same global bank), before any scaling. They are kept detached, in the dtype and on the device of the
    codes. ``mmd.scale``'s statistics are recomputed over the whole bank at each call.

    Args:
        loss: the `MMDLoss` to compute (alignment, frame selection, scale, kernel, gather).
        num_batches: batches the MMD spans, the current one included (``mmd.num_batches``), >= 1.

    Attributes:
        steps: calls so far (kept by :meth:`state_dict`; :meth:`clear` keeps it).
        last_num_samples: S of the last call (the fewest over the groups, bank and current batch together).
    """

    def __init__(self, loss: MMDLoss, num_batches: int):
        if num_batches < 1:
            raise ValueError(f"num_batches must be >= 1, got {num_batches}")
        self.loss = loss
        self.num_batches = num_batches
        self._batches: tp.Deque[tp.List[torch.Tensor]] = collections.deque(maxlen=num_batches - 1)
        self.steps = 0
        self.last_num_samples = 0

    def __len__(self) -> int:
        """Batches held (at most ``num_batches - 1``)."""
        return len(self._batches)

    @property
    def nbytes(self) -> int:
        """Bytes of the values held."""
        return sum(t.numel() * t.element_size() for batch in self._batches for t in batch)

    def values(self) -> tp.Optional[tp.List[torch.Tensor]]:
        """Per group, the stored joint samples [P_g, K_g * N], oldest batch first; None when empty."""
        if not self._batches:
            return None
        return [torch.cat(parts) for parts in zip(*self._batches)]

    def __call__(self, codes: torch.Tensor, generator: tp.Optional[torch.Generator] = None) -> torch.Tensor:
        """The MMD over the bank and ``codes``, then ``codes``' samples join the bank (the oldest batch leaves).

        Args:
            codes: [B, K, N, T] per-codebook vectors of the current batch, with their graph (RVQ: N = D; PVQ:
                N = D / K), e.g. from `audiocraft_mmd.quantization.codebook_vectors`.
            generator: draws the current batch's frame subset, then the factorized samples of the whole bank
                (with ``loss.gather``: the same on every rank).
        Returns:
            0-dim float32 (float64 for float64 codes) MMD^2 of ``self.loss``, whose gradient reaches ``codes``
            only (times the world size with ``loss.gather``, see `~.gather.local_gradient_scale`).
        """
        past = self.values()
        groups = self.loss.group_samples(codes, generator, past=past)
        loss = self.loss.loss_of_samples(groups)
        held = [0] * len(groups) if past is None else [p.shape[0] for p in past]
        self._batches.append([joint[start:].detach() for (_, joint, _), start in zip(groups, held)])
        self.last_num_samples = min(joint.shape[0] for _, joint, _ in groups)
        self.steps += 1
        return loss

    def clear(self) -> None:
        """Drop the stored batches (e.g. at each training epoch start)."""
        self._batches.clear()

    def state_dict(self) -> tp.Dict[str, int]:
        return {'steps': self.steps}

    def load_state_dict(self, state: tp.Dict[str, int]) -> None:
        """Restore ``steps``; the bank starts empty (a checkpoint taken between epochs holds no batch)."""
        self.steps = int(state['steps'])
        self._batches.clear()
