"""The shrinkage trap: a trained MMD that falls while the codebooks do not become more independent."""
import typing as tp

SHRINKAGE_FACTOR = 10.  # "more than an order of magnitude"
SHRINKAGE_WINDOW = 5  # observations averaged at the start and at the end


class ShrinkageWatch:
    """Says once when the MMD a run trains on has fallen more than ``factor``-fold since its first observations
    while the scale-free MMD of the same samples has not.

    With fixed bandwidths (``mmd.scale=fixed``, the paper's) the MMD of a latent shrunk by c is that of a
    latent seen through bandwidths c times wider: an encoder can lower it by shrinking its output, without
    making the codebooks any more independent (docs/MMD.md, "The shrinkage trap"). The scale-free MMD
    (``standardized`` samples) cannot be lowered that way. The start and the end are each the mean of
    ``window`` observations; a trained MMD whose start is not above 0 (at the estimator's noise floor) never
    warns.

    Args:
        scale: the run's ``mmd.scale``; with ``standardized`` the trained MMD is the scale-free one: no warning.
        factor: how many times lower the trained MMD must be.
        window: observations averaged at the start and at the end.
    """
    def __init__(self, scale: str, factor: float = SHRINKAGE_FACTOR, window: int = SHRINKAGE_WINDOW):
        self.scale = scale
        self.factor = factor
        self.window = window
        self.first: tp.List[tp.List[float]] = []  # [trained, scale-free, latent rms] of the first observations
        self.recent: tp.List[tp.List[float]] = []
        self.warned = False

    def update(self, trained: float, scale_free: float, latent_rms: float) -> tp.Optional[str]:
        """Record one observation; return the warning the first time the trap shows, else None."""
        point = [float(trained), float(scale_free), float(latent_rms)]
        if len(self.first) < self.window:
            self.first.append(point)
        self.recent = (self.recent + [point])[-self.window:]
        if self.warned or self.scale == 'standardized' or len(self.first) < self.window \
                or len(self.recent) < self.window or self.recent == self.first:
            return None
        start, end = (_mean(points) for points in (self.first, self.recent))
        trained_fell = start[0] > 0 and end[0] * self.factor < start[0]
        scale_free_fell = start[1] > 0 and end[1] * self.factor < start[1]
        if not trained_fell or scale_free_fell:
            return None
        self.warned = True
        return (f"mmd.scale={self.scale}: the trained MMD fell more than {self.factor:g}-fold ({start[0]:.3g} -> "
                f"{end[0]:.3g}, means of {self.window} MMD steps) while the scale-free MMD did not ({start[1]:.3g} -> "
                f"{end[1]:.3g}); latent rms {start[2]:.3g} -> {end[2]:.3g}. A lower MMD with fixed bandwidths can come "
                "from a shrinking latent alone, not from more independent codebooks: check the dependence "
                "(`audiocraft-mmd dependence`) or train with mmd.scale=standardized (docs/MMD.md, the shrinkage trap).")

    def state_dict(self) -> tp.Dict[str, tp.Any]:
        return {'first': [list(p) for p in self.first], 'recent': [list(p) for p in self.recent], 'warned': self.warned}

    def load_state_dict(self, state: tp.Mapping[str, tp.Any]) -> None:
        self.first = [list(map(float, p)) for p in state['first']]
        self.recent = [list(map(float, p)) for p in state['recent']]
        self.warned = bool(state['warned'])


def _mean(points: tp.Sequence[tp.Sequence[float]]) -> tp.List[float]:
    return [sum(column) / len(points) for column in zip(*points)]
