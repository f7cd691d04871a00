"""The shrinkage trap: a trained MMD that falls while the codebooks do not become more independent."""
import typing as tp

SHRINKAGE_FACTOR = 10.  # "more than an order of magnitude"
SHRINKAGE_WINDOW = 5  # observations averaged at the start and at the end


class ShrinkageWatch:
    """Says once when the MMD a run trains on has fallen more than ``factor``-fold from its highest while the
    scale-free MMD of the same samples has not.

    With fixed bandwidths (``mmd.scale=fixed``, the paper's) the MMD of a latent shrunk by c is that of a
    latent seen through bandwidths c times wider: an encoder can lower it by shrinking its output (or by
    spreading it far past the bandwidths), without making the codebooks any more independent (docs/MMD.md,
    "The shrinkage trap"). The scale-free MMD (``standardized`` samples) cannot be lowered that way. A warning
    is a prompt to measure the dependence, not a verdict: the codebooks may have become more independent too.
    Both are compared as means over ``window`` consecutive observations: the window where the trained MMD was
    highest against the latest one. A trained MMD whose highest is not above 0 (the estimator's noise floor)
    never warns.

    Args:
        scale: the run's ``mmd.scale``; with ``standardized`` the trained MMD is the scale-free one: no warning.
        factor: how many times lower the trained MMD must be.
        window: consecutive observations averaged.
    """
    def __init__(self, scale: str, factor: float = SHRINKAGE_FACTOR, window: int = SHRINKAGE_WINDOW):
        self.scale = scale
        self.factor = factor
        self.window = window
        self.recent: tp.List[tp.List[float]] = []  # [trained, scale-free, latent rms] of the last observations
        self.peak: tp.Optional[tp.List[float]] = None  # their means over the window of the highest trained MMD
        self.warned = False

    def update(self, trained: float, scale_free: float, latent_rms: float) -> tp.Optional[str]:
        """Record one observation; return the warning the first time the trap shows, else None."""
        self.recent = (self.recent + [[float(trained), float(scale_free), float(latent_rms)]])[-self.window:]
        if len(self.recent) < self.window:
            return None
        now = [sum(column) / self.window for column in zip(*self.recent)]
        if self.peak is None or now[0] > self.peak[0]:
            self.peak = now
        if self.warned or self.scale == 'standardized':
            return None
        peak = self.peak
        trained_fell = peak[0] > 0 and now[0] * self.factor < peak[0]
        scale_free_fell = peak[1] > 0 and now[1] * self.factor < peak[1]
        if not trained_fell or scale_free_fell:
            return None
        self.warned = True
        return (f"mmd.scale={self.scale}: the trained MMD fell more than {self.factor:g}-fold from its highest "
                f"({peak[0]:.3g} -> {now[0]:.3g}, means of {self.window} MMD steps) while the scale-free MMD did not "
                f"({peak[1]:.3g} -> {now[1]:.3g}); latent rms {peak[2]:.3g} -> {now[2]:.3g}. A lower MMD with fixed "
                "bandwidths can come from a change of the latent's scale alone (shrinking it, or spreading it past "
                "the bandwidths), not from more independent codebooks: measure the dependence (`audiocraft-mmd "
                "dependence`) or train with mmd.scale=standardized (docs/MMD.md, the shrinkage trap).")
