"""What an LM loses on a tokenizer's held-out tokens: NLL per codebook, generation steps and time.

A delay-pattern LM predicts the K codes of one frame as a product of marginals (given the past); a
flatten LM predicts them one after the other, so it models their joint. The difference of their
held-out NLLs (in bits per frame, summed over the K codebooks) is what parallel prediction loses on
those tokens, the quantity the paper's argument is about.
"""
import math
import time
import typing as tp
from dataclasses import dataclass
from pathlib import Path

import torch

from audiocraft.models.encodec import CompressionModel
from audiocraft.models.lm import LMModel
from audiocraft.modules.conditioners import ConditioningAttributes

from ..metrics.codec import iter_segments, stack_batches

LOG2 = math.log(2.)


@torch.no_grad()
def encode_segments(codec: CompressionModel, manifest: Path, segment_duration: float,
                    max_segments: tp.Optional[int] = None, batch_size: int = 8) -> torch.Tensor:
    """Codes [N, K, T] of the consecutive ``segment_duration`` segments of every file of ``manifest``."""
    segments = iter_segments(manifest, codec.sample_rate, codec.channels, segment_duration, max_segments)
    codes = [codec.encode(batch)[0].cpu() for batch in stack_batches(segments, batch_size)]
    if not codes:
        raise ValueError(f"no segment of {segment_duration:g} s in {manifest}")
    return torch.cat(codes)


def _null_conditions(count: int) -> tp.List[ConditioningAttributes]:
    """Unconditional: no description (the LMs train on music without text, with the null condition)."""
    return [ConditioningAttributes(text={'description': None}) for _ in range(count)]


@torch.no_grad()
def token_nll_bits(lm: LMModel, codes: torch.Tensor, batch_size: int = 8) -> tp.Tuple[torch.Tensor, torch.Tensor]:
    """Per-position NLL in bits [N, K, T] of ``codes`` [N, K, T] under ``lm``, and the mask [N, K, T] of the
    positions its pattern predicts (the delay pattern leaves out the last k frames of codebook k)."""
    nlls, masks = [], []
    for start in range(0, len(codes), batch_size):
        chunk = codes[start:start + batch_size]
        output = lm.compute_predictions(chunk, _null_conditions(len(chunk)))
        logits = output.logits.float()  # [B, K, T, card]
        nll = torch.nn.functional.cross_entropy(logits.permute(0, 3, 1, 2), chunk, reduction='none') / LOG2
        nlls.append(torch.where(output.mask, nll, torch.zeros_like(nll)))
        masks.append(output.mask)
    return torch.cat(nlls), torch.cat(masks)


def bits_per_codebook(nll: torch.Tensor, mask: torch.Tensor) -> tp.List[float]:
    """Mean NLL in bits of each codebook over the positions of ``mask`` [N, K, T]."""
    counts = mask.sum(dim=(0, 2)).clamp(min=1)
    return (nll * mask).sum(dim=(0, 2)).div(counts).tolist()


def marginal_bits_per_codebook(codes: torch.Tensor) -> tp.List[float]:
    """Entropy in bits of each codebook's codes [N, K, T] (their empirical distribution over these tokens): the
    held-out NLL of the best model that ignores every other code, a bound a working LM must beat."""
    entropies = []
    for k in range(codes.shape[1]):
        counts = torch.bincount(codes[:, k].reshape(-1)).double()
        p = counts[counts > 0] / counts.sum()
        entropies.append(float(-(p * p.log2()).sum()))
    return entropies


@dataclass
class Generation:
    """One unconditional generation: the audio [C, L], its LM steps, its wall time and that time per second of
    audio."""
    wav: torch.Tensor
    steps: int
    seconds: float
    seconds_per_audio_second: float


@torch.no_grad()
def generate(lm: LMModel, codec: CompressionModel, duration: float, seed: int, top_k: int = 32) -> Generation:
    """Sample ``duration`` s of tokens (top-k, the LM's guidance) and decode them; the wall time covers both."""
    frames = int(round(duration * codec.frame_rate))
    steps = 0

    def count(_generated: int, _total: int) -> None:
        nonlocal steps
        steps += 1

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        start = time.perf_counter()
        tokens = lm.generate(conditions=_null_conditions(1), max_gen_len=frames, use_sampling=True, top_k=top_k,
                             callback=count)
        wav = codec.decode(tokens)[0].cpu()
        seconds = time.perf_counter() - start
    finally:
        torch.random.set_rng_state(generator_state)
    return Generation(wav, steps, seconds, seconds / (wav.shape[-1] / codec.sample_rate))
