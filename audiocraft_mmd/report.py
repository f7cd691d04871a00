"""The paper's Fig. 2 from a set of Dora XPs: MMD, total correlation and MSSpec against the MMD weight."""
import importlib
import re
import typing as tp
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import ConfigurationError, MissingDataError

_SIG = re.compile(r'^(//sig/)?([0-9a-f]{8})$')


@dataclass
class XPRow:
    """Last reported figures of one XP."""
    sig: str
    name: str
    weight: float
    alignment: str
    kernel: str
    epochs: int
    mmd: tp.Optional[float]  # evaluate set when measured there, else last training epoch
    tc_percent_delay: tp.Optional[float]
    tc_percent_parallel: tp.Optional[float]
    msspec: tp.Optional[float]
    mmd_scale_free: tp.Optional[float] = None
    seed: tp.Optional[int] = None
    frames_per_item: tp.Optional[int] = None  # mmd.frames_per_item (None: every aligned frame)


def grid_xps(grid_name: str) -> list:
    """XPs (`dora.XP`) that ``dora grid <grid_name>`` would schedule, without scheduling anything."""
    from dora.explore import Herd, Launcher
    from dora.shep import Shepherd
    from .train import main
    try:
        module = importlib.import_module(f'audiocraft_mmd.grids.{grid_name}')
    except ModuleNotFoundError as exc:
        raise ConfigurationError(f"No grid {grid_name!r} (looked for audiocraft_mmd/grids/"
                                 f"{grid_name.replace('.', '/')}.py); known: mmd.encodec_32khz.") from exc
    herd = Herd()
    launcher = Launcher(Shepherd(main), main.get_slurm_config(), herd)
    module.explorer(launcher)
    return [sheep.xp for sheep in herd.sheeps.values()]


def resolve_xps(targets: tp.Sequence[str]) -> list:
    """XPs named by grid names (``mmd.encodec_32khz``), signatures or ``//sig/SIG`` paths."""
    from .train import main
    xps = []
    for target in targets:
        if match := _SIG.match(target):
            sig = match.group(2)
            if not (main.dora.dir / 'xps' / sig).is_dir():
                raise MissingDataError(f"No XP {sig} in {main.dora.dir / 'xps'} (set AUDIOCRAFT_DORA_DIR?).")
            xps.append(main.get_xp_from_sig(sig))
        else:
            xps.extend(grid_xps(target))
    return xps


def _last(history: list, stage: str, key: str) -> tp.Optional[float]:
    for epoch in reversed(history):
        if key in epoch.get(stage, {}):
            return float(epoch[stage][key])
    return None


def xp_row(xp) -> XPRow:
    """Figures of one XP from its config and ``history.json``."""
    cfg = xp.cfg
    mmd = cfg.get('mmd') or {}
    xp.link.load()
    history = xp.link.history
    name = ' '.join(f'{k}={v}' for k, v in (xp.delta or [])) or '(base)'
    evaluate_mmd = _last(history, 'evaluate', 'mmd')
    return XPRow(sig=xp.sig, name=name, weight=float(mmd.get('weight', 0.)), alignment=str(mmd.get('alignment', '-')),
                 kernel=str(mmd.get('kernel', '-')), epochs=len(history),
                 mmd=evaluate_mmd if evaluate_mmd is not None else _last(history, 'train', 'mmd'),
                 tc_percent_delay=_last(history, 'evaluate', 'tc_percent_delay'),
                 tc_percent_parallel=_last(history, 'evaluate', 'tc_percent_parallel'),
                 msspec=_last(history, 'valid', 'msspec'), mmd_scale_free=_last(history, 'evaluate', 'mmd_scale_free'),
                 seed=int(cfg.seed), frames_per_item=mmd.get('frames_per_item'))


def format_rows(rows: tp.Sequence[XPRow]) -> str:
    """A readable table of the rows, sorted as given."""
    def fmt(value: tp.Optional[float], spec: str) -> str:
        return '-' if value is None else format(value, spec)
    header = f"{'sig':8}  {'weight':>8}  {'align':8}  {'kernel':19}  {'ep':>3}  {'MMD':>10}  " \
             f"{'I% delay':>9}  {'I% par.':>9}  {'MSSpec':>8}"
    lines = [header, '-' * len(header)]
    for r in rows:
        lines.append(f"{r.sig:8}  {r.weight:>8g}  {r.alignment:8}  {r.kernel:19}  {r.epochs:>3}  {fmt(r.mmd, '10.3e')}  "
                     f"{fmt(r.tc_percent_delay, '9.4f')}  {fmt(r.tc_percent_parallel, '9.4f')}  "
                     f"{fmt(r.msspec, '8.4f')}")
    return '\n'.join(lines)


def plot_band(ax, weights: tp.List[float], values: tp.List[tp.List[float]], style: str, label: str) -> None:
    """Mean over seeds at each weight, with the 95 % interval as error bars where there are >= 2 seeds."""
    from .stats import mean_interval
    points = [(w, mean_interval(v)) for w, v in zip(weights, values) if v]
    if not points:
        return
    xs = [w for w, _ in points]
    means = [i.mean for _, i in points]
    errors = [0. if i.n < 2 else i.half_width for _, i in points]
    ax.errorbar(xs, means, yerr=errors, fmt=style, capsize=3, label=label)


def group_rows(rows: tp.Sequence[XPRow]) -> tp.Dict[tp.Tuple[str, str, tp.Optional[int]], tp.List[XPRow]]:
    """The rows of each Fig. 2 line: same alignment, kernel and frames per clip (weights and seeds vary)."""
    groups: tp.Dict[tp.Tuple[str, str, tp.Optional[int]], tp.List[XPRow]] = {}
    for row in rows:
        groups.setdefault((row.alignment, row.kernel, row.frames_per_item), []).append(row)
    return groups


def plot_weights(panels: tp.Sequence[tp.Tuple[str, tp.Sequence[tp.Tuple[str, str, str]]]],
                 lines: tp.Mapping[str, tp.Tuple[tp.List[float], tp.List[tp.List[tp.Mapping[str, tp.Any]]]]],
                 path: tp.Union[str, Path], figsize: tp.Tuple[float, float], title: tp.Optional[str] = None) -> Path:
    """Figures against the MMD weight, one panel per (title, series) of ``panels``, each series a (key, style,
    what) drawn for every line of ``lines`` ({name: (weights, the runs at each weight)}; a run maps keys to
    values, None where not measured). Each point is the mean over its runs, with its 95 % interval where there
    are at least 2 (`plot_band`)."""
    from .plotting import pyplot, save_figure
    fig, axes = pyplot().subplots(1, len(panels), figsize=figsize)
    for ax, (panel, series) in zip(axes, panels):
        for name, (weights, runs) in lines.items():
            for key, style, what in series:
                values = [[run[key] for run in group if run[key] is not None] for group in runs]
                plot_band(ax, weights, values, style, name + (f': {what}' if what else ''))
        ax.set_xscale('symlog', linthresh=1)
        ax.set_xlabel('MMD weight')
        ax.set_title(panel)
        ax.grid(alpha=0.3)
        if ax.lines or ax.containers:
            ax.legend(fontsize=7)
    if title is not None:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def plot_rows(rows: tp.Sequence[XPRow], path: tp.Union[str, Path]) -> Path:
    """Fig. 2: MMD, total correlation (%) and MSSpec against the MMD weight, one line per (alignment, kernel,
    frames per clip).

    Rows that differ only by their seed are averaged: each point is the mean over seeds, with its 95 %
    interval where there are at least 2 seeds.
    """
    panels = [('MMD', (('mmd', '-o', 'fixed bandwidths'), ('mmd_scale_free', '--s', 'scale-free'))),
              ('total correlation I (%)', (('tc_percent_delay', '-o', 'delay-aligned I'),
                                           ('tc_percent_parallel', '--s', 'parallel-aligned I'))),
              ('MSSpec', (('msspec', '-o', ''),))]
    lines = {}
    for (alignment, kernel, frames), members in group_rows(rows).items():
        weights = sorted({r.weight for r in members})
        line = f'{alignment}, {kernel}' + (f', {frames} frames/clip' if frames is not None else '')
        lines[line] = (weights, [[asdict(r) for r in members if r.weight == w] for w in weights])
    return plot_weights(panels, lines, path, figsize=(14, 4))
