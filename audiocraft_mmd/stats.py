"""Mean and confidence interval of a figure measured over several seeds."""
import math
import typing as tp
from dataclasses import dataclass


@dataclass
class Interval:
    """Mean of ``n`` values and its two-sided Student-t confidence interval [low, high].

    With a single value the interval is unknown: ``low`` and ``high`` are NaN.
    """
    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def excludes_zero(self) -> bool:
        """The interval lies entirely on one side of 0 (False when it is unknown)."""
        return self.low > 0 or self.high < 0

    def format(self, spec: str = '.3g') -> str:
        """``mean ± half-width`` (just the mean for one value)."""
        if math.isnan(self.half_width):
            return format(self.mean, spec)
        return f"{format(self.mean, spec)} ± {format(self.half_width, spec)}"

    def to_dict(self) -> tp.Dict[str, float]:
        return {'mean': self.mean, 'low': self.low, 'high': self.high, 'n': self.n}


def mean_interval(values: tp.Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean and ``confidence`` interval of ``values`` (t distribution with n - 1 degrees of freedom)."""
    from scipy import stats
    n = len(values)
    if n == 0:
        raise ValueError("mean_interval needs at least one value.")
    mean = sum(values) / n
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def paired_change(base: tp.Sequence[tp.Mapping[str, tp.Any]], other: tp.Sequence[tp.Mapping[str, tp.Any]],
                  key: str) -> Interval:
    """Mean and 95 % interval of ``other[key] - base[key]`` over the seeds both ran with (each run a mapping
    with a ``seed``)."""
    by_seed = {run['seed']: run[key] for run in base}
    return mean_interval([run[key] - by_seed[run['seed']] for run in other if run['seed'] in by_seed])
