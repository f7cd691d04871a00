"""`audiocraft-mmd planted`: the MMD on codes whose dependence is planted, over a weight sweep, each ``mmd.scale``
and several seeds; the table, the verdicts (does I fall? does the MMD fall while I does not?), a JSON report and
a figure."""
from dataclasses import dataclass
import hashlib
import json
import math
import multiprocessing
import time
import typing as tp
import warnings
from pathlib import Path

from tqdm import tqdm

from ..processes import sigterm_as_exit
from ..experiments.table import text_table
from ..stats import Interval, mean_interval, paired_change
from .codec import PlantedSettings

PLANTED_WEIGHTS = (100., 1e3)
PLANTED_SCALES = ('standardized', 'fixed')
PLANTED_SEEDS = 5
TRAINED_MMD_KEY = {'fixed': 'mmd', 'standardized': 'mmd_scale_free', 'median': 'mmd_median'}
# A working point codec: it transmits (MSE at most a quarter of the points' variance), its decoder uses the codes
# (shuffling them at least doubles the MSE) and each codebook uses at least half of its bits.
MAX_RELATIVE_MSE = 0.25
MIN_SHUFFLE_RATIO = 2.
# The shrinkage trap: the MMD a codec trained on fell by at least this factor against the baseline while I fell
# by less than MIN_I_DROP of the baseline's (or not with an interval that excludes no change).
TRAP_FOLD = 2.
MIN_I_DROP = 0.1
SUMMARY_KEYS = ('tc_percent', 'mmd', 'mmd_scale_free', 'mmd_median', 'latent_rms', 'relative_mse',
                'shuffled_relative_mse', 'codebook_entropy_min_bits')  # summarised over seeds, paired per seed
FIGURES = [  # (key, label, format): the printed table
    ('tc_percent', 'I (%)', '.2f'),
    ('mmd', 'MMD, fixed bandwidths', '.2e'),
    ('mmd_scale_free', 'MMD, scale-free', '.2e'),
    ('latent_rms', 'latent rms', '.3f'),
    ('relative_mse', 'MSE / variance', '.4f'),
    ('shuffled_relative_mse', 'MSE, codes shuffled', '.3f'),
    ('codebook_entropy_min_bits', 'codebook entropy, min (bits)', '.2f'),
]


@dataclass(frozen=True)
class Cell:
    """One (weight, scale) of the sweep; weight 0 is the baseline (the MMD measured, not trained)."""
    weight: float
    scale: str

    @property
    def label(self) -> str:
        return 'baseline' if self.weight == 0 else f"{self.scale}, weight {self.weight:g}"


def sweep_cells(weights: tp.Sequence[float], scales: tp.Sequence[str]) -> tp.List[Cell]:
    """The baseline, then each scale at each weight > 0."""
    return [Cell(0., scales[0])] + [Cell(w, s) for s in scales for w in weights if w > 0]


RUN_FORMAT = 3  # raise when a run's training or figures change: stored runs of another format are not reused


def _run_key(cell: Cell, seed: int, settings: PlantedSettings) -> str:
    text = json.dumps({'weight': cell.weight, 'scale': cell.scale, 'seed': seed, 'settings': settings.to_dict(),
                       'format': RUN_FORMAT}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _init_worker() -> None:
    import torch
    from ..environment import silence_dependency_notices
    silence_dependency_notices()
    torch.set_num_threads(1)  # one run per core; the same figures whatever --jobs


def run_one(cell: Cell, seed: int, settings: PlantedSettings) -> tp.Dict[str, tp.Any]:
    """Train and measure one codec: every figure of `measure_planted`, the trained MMD at the start and the end
    of training (mean of the first and the last 10 % of MMD steps), the seed and the time taken."""
    from .codec import measure_planted, train_planted
    start = time.time()
    with warnings.catch_warnings(record=True) as caught:  # the MMD's kernel-collapse warning: kept, not printed
        warnings.simplefilter('always', RuntimeWarning)
        trained = train_planted(cell.weight, cell.scale, seed, settings)
    collapse = [str(w.message) for w in caught if 'sees no signal' in str(w.message)]
    figures = measure_planted(trained.codec, settings)
    trace = trained.mmd_trace
    tenth = max(1, len(trace) // 10)
    figures['codebook_entropy_min_bits'] = min(figures['codebook_entropy_bits'])
    return {'weight': cell.weight, 'scale': cell.scale, 'seed': seed, **figures,
            'trained_mmd_start': sum(trace[:tenth]) / tenth if trace else None,
            'trained_mmd_end': sum(trace[-tenth:]) / tenth if trace else None,
            'shrinkage_warning': trained.shrinkage_warning, 'shrinkage_step': trained.shrinkage_step,
            'collapse_warning': collapse[0] if collapse else None,
            'seconds': time.time() - start}


def _run_task(task: tp.Tuple[Cell, int, PlantedSettings, Path]) -> tp.Tuple[Cell, Path, tp.Dict[str, tp.Any]]:
    cell, seed, settings, path = task
    return cell, path, run_one(cell, seed, settings)


def failed_checks(run: tp.Mapping[str, tp.Any], bins: int) -> tp.List[str]:
    """The working-codec checks one run fails, with its numbers."""
    failures = []
    if run['relative_mse'] > MAX_RELATIVE_MSE:
        failures.append(f"seed {run['seed']}: MSE {run['relative_mse']:.3f} of the variance > {MAX_RELATIVE_MSE:g}")
    if run['shuffled_relative_mse'] < MIN_SHUFFLE_RATIO * run['relative_mse']:
        failures.append(f"seed {run['seed']}: shuffling the codes raises the MSE only to "
                        f"{run['shuffled_relative_mse']:.3f} (from {run['relative_mse']:.3f})")
    if run['codebook_entropy_min_bits'] < math.log2(bins) / 2:
        failures.append(f"seed {run['seed']}: a codebook uses {run['codebook_entropy_min_bits']:.2f} of "
                        f"{math.log2(bins):g} bits")
    return failures


@dataclass
class CellResult:
    """A cell's runs and what they show against the baseline."""
    cell: Cell
    runs: tp.List[tp.Dict[str, tp.Any]]
    summary: tp.Dict[str, Interval]
    change: tp.Dict[str, Interval]  # paired change against the baseline (same seed); empty for the baseline
    failures: tp.List[str]

    def to_dict(self) -> tp.Dict[str, tp.Any]:
        return {'weight': self.cell.weight, 'scale': self.cell.scale, 'label': self.cell.label, 'runs': self.runs,
                'summary': {k: v.to_dict() for k, v in self.summary.items()},
                'paired_change': {k: v.to_dict() for k, v in self.change.items()}, 'failed_checks': self.failures}


def _relative(change: Interval, base: Interval) -> float:
    return change.mean / abs(base.mean) if base.mean else float('nan')


def cell_verdict(result: CellResult, baseline: CellResult) -> str:
    """What one cell shows against the baseline, with its numbers: whether I fell, at what reconstruction cost,
    and whether the MMD it trained on fell while I did not (the shrinkage trap)."""
    if result.failures or baseline.failures:
        return (f"{result.cell.label}: no verdict, not a working codec at every seed "
                f"({'; '.join(baseline.failures + result.failures)}).")
    i_change, base_i = result.change['tc_percent'], baseline.summary['tc_percent']
    mse = result.summary['relative_mse'].mean / baseline.summary['relative_mse'].mean
    rms = _relative(result.change['latent_rms'], baseline.summary['latent_rms'])
    i_fell = i_change.high < 0
    text = (f"{result.cell.label}: I {base_i.mean:.2f} -> {result.summary['tc_percent'].mean:.2f} % "
            f"(paired {i_change.format('.2f')} points, {100 * _relative(i_change, base_i):+.0f} %), "
            f"MSE x{mse:.2f}, latent rms {100 * rms:+.0f} %: ")
    text += "the loss cut the dependence" if i_fell else (
        "I did not fall with an interval that excludes no change" if i_change.low <= 0 else "I rose")
    key = TRAINED_MMD_KEY[result.cell.scale]
    if key in result.change:
        base_mmd, mmd = baseline.summary[key].mean, result.summary[key].mean
        mmd_fell = result.change[key].high < 0 and base_mmd > 0 and (mmd <= 0 or base_mmd / mmd >= TRAP_FOLD)
        fold = "below 0" if mmd <= 0 else f"{base_mmd / mmd:.0f}-fold" if base_mmd > 0 else ""
        if mmd_fell and not (i_fell and -_relative(i_change, base_i) >= MIN_I_DROP):
            text += (f". Shrinkage trap: the MMD it trained on (mmd.scale={result.cell.scale}) fell {fold} "
                     f"({base_mmd:.2e} -> {mmd:.2e}) while I did not fall")
    warned = sum(r['shrinkage_warning'] is not None for r in result.runs)
    if warned:
        text += f"; the solver's shrinkage warning fired in {warned} of {len(result.runs)} runs"
    return text + '.'


@dataclass
class PlantedReport:
    """The sweep's results: settings, seeds, one `CellResult` per cell, and the closing verdict."""
    settings: PlantedSettings
    seeds: int
    cells: tp.List[CellResult]

    @property
    def baseline(self) -> CellResult:
        return self.cells[0]

    def best(self, scale: str) -> tp.Optional[CellResult]:
        """The cell of ``scale`` with the largest paired drop of I whose interval excludes 0, if any."""
        dropping = [c for c in self.cells[1:] if c.cell.scale == scale and not c.failures
                    and c.change['tc_percent'].high < 0]
        return min(dropping, key=lambda c: c.change['tc_percent'].mean, default=None)

    def verdict(self) -> str:
        """The closing lines: what the planted case shows, never more than its numbers."""
        base = self.baseline
        i = base.summary['tc_percent']
        head = (f"Planted dependence ({self.settings.quantizer.upper()}, 2 codebooks of {self.settings.bins}, "
                f"{self.seeds} seeds, I over {base.runs[0]['tc_samples']:,} held-out points): the baseline's "
                f"codebooks are dependent, I {i.format('.2f')} %.")
        lines = [head]
        for scale in dict.fromkeys(c.cell.scale for c in self.cells[1:]):
            best = self.best(scale)
            if best is None:
                lines.append(f"mmd.scale={scale}: no weight cut I with a paired interval that excludes no change.")
            else:
                change = best.change['tc_percent']
                mse = best.summary['relative_mse'].mean / base.summary['relative_mse'].mean
                lines.append(f"mmd.scale={scale}: the loss acts; at weight {best.cell.weight:g} I falls by "
                             f"{-100 * _relative(change, i):.0f} % ({i.mean:.2f} -> {best.summary['tc_percent'].mean:.2f} %, "
                             f"paired {change.format('.2f')} points), at a reconstruction cost of MSE x{mse:.2f}.")
        traps = [c for c in self.cells[1:] if 'Shrinkage trap' in cell_verdict(c, base)]
        if traps:
            lines.append("A lower trained MMD is not evidence of independence: " + '; '.join(
                f"{c.cell.label} lowered its MMD while I did not fall" for c in traps) + '.')
        return '\n'.join(lines)

    def summary(self) -> str:
        """The verdict in one paragraph, for the demo's closing lines."""
        return ' '.join(self.verdict().split('\n'))

    def format_table(self) -> str:
        """One row per figure, one column per cell (mean ± 95 % half-interval over seeds)."""
        rows = [['', *(c.cell.label for c in self.cells)],
                *([label, *(c.summary[key].format(spec) for c in self.cells)] for key, label, spec in FIGURES),
                ['I, paired change', '', *(c.change['tc_percent'].format('.2f') for c in self.cells[1:])]]
        col = max(24, max(len(c.cell.label) for c in self.cells) + 2)
        return text_table(rows, [max(len(label) for _, label, _ in FIGURES) + 2, *[col] * len(self.cells)])

    def to_dict(self) -> tp.Dict[str, tp.Any]:
        return {'settings': self.settings.to_dict(), 'seeds': self.seeds,
                'cells': [c.to_dict() for c in self.cells],
                'verdicts': [cell_verdict(c, self.baseline) for c in self.cells[1:]], 'verdict': self.verdict()}

    def plot(self, path: tp.Union[str, Path]) -> Path:
        """I, both MMDs and the MSE against the weight, one line per scale (mean and 95 % interval)."""
        from ..report import plot_weights
        panels = [('I (%)', (('tc_percent', '-o', ''),)),
                  ('MMD', (('mmd', '-o', 'fixed bandwidths'), ('mmd_scale_free', '--s', 'scale-free'))),
                  ('MSE / variance', (('relative_mse', '-o', ''),)), ('latent rms', (('latent_rms', '-o', ''),))]
        lines = {}
        for scale in dict.fromkeys(c.cell.scale for c in self.cells[1:]):
            cells = [self.baseline] + [c for c in self.cells[1:] if c.cell.scale == scale]
            lines[f"trained {scale}"] = ([c.cell.weight for c in cells], [c.runs for c in cells])
        title = f"Planted dependence, {self.settings.quantizer.upper()}: {self.seeds} seeds, mean and 95 % interval"
        return plot_weights(panels, lines, path, (4 * len(panels), 3.6), title)


def summarize_cells(cells: tp.Sequence[Cell], runs: tp.Mapping[Cell, tp.List[tp.Dict[str, tp.Any]]],
                    settings: PlantedSettings, seeds: int) -> PlantedReport:
    """Mean and interval of every figure of each cell, and its paired change against the baseline."""
    results = []
    for cell in cells:
        cell_runs = sorted(runs[cell], key=lambda r: r['seed'])
        summary = {key: mean_interval([r[key] for r in cell_runs]) for key in SUMMARY_KEYS}
        change = {} if cell == cells[0] else {
            key: paired_change(runs[cells[0]], cell_runs, key) for key in summary}
        failures = [f for r in cell_runs for f in failed_checks(r, settings.bins)]
        results.append(CellResult(cell, cell_runs, summary, change, failures))
    return PlantedReport(settings, seeds, results)


def run_planted(out: Path, settings: PlantedSettings = PlantedSettings(),
                weights: tp.Sequence[float] = PLANTED_WEIGHTS, scales: tp.Sequence[str] = PLANTED_SCALES,
                seeds: int = PLANTED_SEEDS, jobs: int = 2, quiet: bool = False) -> PlantedReport:
    """Train and measure every (cell, seed), ``jobs`` at a time (one thread each), reusing the runs already in
    ``out/planted-runs/`` (keyed on the cell, the seed and the settings); print the table and the verdicts;
    write ``out/REPORT.json`` and ``.png`` (`PlantedSettings.report_name`)."""
    from ..errors import ConfigurationError, choice_problem
    from ..losses import SCALES
    if seeds < 2:
        raise ConfigurationError(f"--seeds {seeds}: the interval over seeds needs at least 2 (default {PLANTED_SEEDS}).")
    problems = [problem for scale in scales if (problem := choice_problem('--scales', scale, SCALES, sep=' '))]
    if problems or not scales:
        raise ConfigurationError('; '.join(problems) or f"--scales: give at least one of {', '.join(SCALES)}.")
    if jobs < 1:
        raise ConfigurationError(f"--jobs {jobs}: run at least 1 at a time.")
    if not any(w > 0 for w in weights) or any(w < 0 for w in weights):
        raise ConfigurationError(f"--weights {','.join(f'{w:g}' for w in weights)}: give weights > 0 (the baseline, "
                                 "weight 0, always runs).")
    from .codec import mmd_config
    for scale in scales:
        mmd_config(1., scale, settings)  # the solver's checks, before anything trains
    cells = sweep_cells(weights, scales)
    store = out / 'planted-runs'
    store.mkdir(parents=True, exist_ok=True)
    tasks = [(cell, seed) for cell in cells for seed in range(seeds)]
    runs: tp.Dict[Cell, tp.List[tp.Dict[str, tp.Any]]] = {cell: [] for cell in cells}
    todo = []
    for cell, seed in tasks:
        path = store / f"{_run_key(cell, seed, settings)}.json"
        if path.is_file():
            runs[cell].append(json.loads(path.read_text()))
        else:
            todo.append((cell, seed, settings, path))
    if not quiet:
        print(f"Planted dependence: {len(cells)} codecs x {seeds} seeds ({len(tasks) - len(todo)} reused), "
              f"{settings.steps} steps each, {jobs} at a time.", flush=True)
    if todo:
        # spawned workers (no state shared with this process); the pool is terminated on leaving the block,
        # also after an error or SIGTERM, so no worker outlives the command
        with sigterm_as_exit(), multiprocessing.get_context('spawn').Pool(jobs, initializer=_init_worker) as pool:
            done = pool.imap_unordered(_run_task, todo)
            for cell, path, result in tqdm(done, total=len(todo), desc='planted runs', disable=quiet):
                path.write_text(json.dumps(result))
                runs[cell].append(result)
    report = summarize_cells(cells, runs, settings, seeds)
    name, data = settings.report_name, report.to_dict()
    (out / f"{name}.json").write_text(json.dumps(data, indent=2))
    report.plot(out / f"{name}.png")
    if not quiet:
        print(report.format_table(), '', *data['verdicts'], '', data['verdict'], sep='\n')
        print(f"Wrote {out / (name + '.json')} and {out / (name + '.png')}")
    return report
