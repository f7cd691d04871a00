"""The XP type: one training run of the plugin's Dora main, known by its argv (hence its Dora signature)."""
import json
import typing as tp
from dataclasses import dataclass
from pathlib import Path

UPDATES_PER_EPOCH = 50  # the recipes' epochs: at most this many updates (the train split's num_samples matches)


@dataclass
class XP:
    """One run a command trains: a label, the MMD weight and seed it stands for, its argv and its length."""
    label: str
    weight: float
    seed: int
    argv: tp.List[str]
    steps: int
    epochs: int
    folder: tp.Optional[Path] = None

    @property
    def epochs_done(self) -> int:
        """The epochs in the XP's history (0 before `locate_xps` or before its first epoch)."""
        history = None if self.folder is None else self.folder / 'history.json'
        return len(json.loads(history.read_text())) if history is not None and history.is_file() else 0

    def best_step(self, stage: str = 'valid', metric: str = 'ce') -> int:
        """The step at the end of the epoch whose ``stage`` ``metric`` is the lowest in the XP's history (the last
        such epoch on a tie): the state an AudioCraft solver with that best metric keeps as ``best_state``."""
        assert self.folder is not None
        scores = [epoch[stage][metric] for epoch in json.loads((self.folder / 'history.json').read_text())]
        best = max(i for i, score in enumerate(scores) if score == min(scores))
        return (best + 1) * (self.steps // self.epochs)

    @property
    def finished(self) -> bool:
        """The XP has run all its epochs (its history holds them): nothing to train."""
        return self.epochs_done >= self.epochs


def epoch_schedule(steps: int) -> tp.Tuple[int, int]:
    """(epochs, updates per epoch) of a ``steps``-step run: epochs of at most `UPDATES_PER_EPOCH` updates (the
    train split's ``num_samples`` is set to match, so that an epoch is not cut short by the loader)."""
    updates = min(steps, UPDATES_PER_EPOCH)
    return -(-steps // updates), updates


def locate_xps(xps: tp.Sequence[XP], dora_dir: Path) -> None:
    """Set the ``folder`` of each XP that has none: its Dora signature's folder under ``dora_dir`` (made or not).
    Composing an XP's config takes a while, so a located XP is not located again."""
    from ..train import main
    main.dora.dir = dora_dir
    for xp in xps:
        if xp.folder is None:
            xp.folder = main.get_xp(xp.argv).folder


def reuse_text(xps: tp.Sequence[XP]) -> str:
    """What `runner.train_xps` will reuse of located XPs: '' when nothing, else e.g. ' (2 of 6 finished: reused)'."""
    finished = sum(xp.finished for xp in xps)
    return f" ({finished} of {len(xps)} finished: reused)" if finished else ''
