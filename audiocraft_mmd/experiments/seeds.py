"""Figures over seeds: mean and 95 % interval per figure, and the per-seed bar plot."""
import typing as tp

from ..stats import Interval, mean_interval

COLORS = ['#8c8c8c', '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728']


def seed_intervals(runs: tp.Sequence[tp.Mapping[str, tp.Any]], keys: tp.Iterable[str]) -> tp.Dict[str, Interval]:
    """{key: mean and 95 % interval over ``runs`` (one mapping per seed)} for each of ``keys`` every run has."""
    return {key: mean_interval([run[key] for run in runs]) for key in keys if all(key in run for run in runs)}


def seed_bars(ax, values: tp.Mapping[str, tp.Sequence[float]], colors: tp.Sequence[str] = COLORS,
              fontsize: int = 8) -> None:
    """On ``ax``: one bar per label of ``values`` ({label: one value per seed}) at its mean with its 95 % interval,
    and every seed as a dot."""
    labels = list(values)
    summaries = [mean_interval(list(values[label])) for label in labels]
    errors = [0 if s.n < 2 else s.half_width for s in summaries]
    ax.bar(range(len(labels)), [s.mean for s in summaries], yerr=errors, capsize=4, color=list(colors)[:len(labels)],
           alpha=0.8)
    for i, label in enumerate(labels):
        ax.plot([i] * len(values[label]), list(values[label]), 'k.', markersize=4)
    ax.set_xticks(range(len(labels)), labels, fontsize=fontsize)
