"""`audiocraft-mmd demo`: fine-tune a working tiny codec with and without the MMD on real music, over
several seeds, and measure every codec on held-out tracks with `audiocraft_mmd.metrics.codec`.

Every codec of the demo starts from the same working codec, the start codec (`experiments.start`), or, with
``--start scratch``, every codec trains from scratch; the XPs,
their recipes, training, measurement and verdict are `audiocraft_mmd.experiments`'.
"""
import hashlib
import json
import typing as tp
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ConfigurationError, choice_problem
from ..experiments.measure import FIGURES, failed_checks, measure
from ..experiments.music import prepare_music
from ..experiments.options import shared_problems
from ..experiments.recipes import CODEC_SOLVER, QUANTIZERS, START_STEPS, codec_xp, mmd_argv
from ..experiments.runner import train_xps
from ..experiments.seeds import seed_bars, seed_intervals
from ..experiments.start import SCRATCH, START_CODEC, resolve_start, start_problems
from ..experiments.table import text_table
from ..experiments.verdict import verdict
from ..experiments.xp import XP, locate_xps, reuse_text
from ..losses import MODES
from ..planted.codec import PlantedSettings
from ..planted.run import PLANTED_SCALES, PLANTED_SEEDS, run_planted
from ..processes import default_jobs
from ..stats import Interval, paired_change

PAPER_WEIGHT = 1e3  # the paper's; report names add `-weightW` for another weight
REFERENCE_STEPS = 200  # report names add `-stepsN` for other step counts
DEMO_SCALE = 'standardized'


@dataclass(frozen=True)
class DemoPreset:
    """A cell of the real-music regime search (docs/RESULTS.md) as the demo runs it; ``expected`` is how long the
    whole command took from a fresh clone (install, music and the planted part included), where it was measured."""
    weight: float
    num_batches: tp.Optional[int]  # None: the solver's (4)
    seeds: int
    steps: int
    measure_train: bool
    expected: str


PRESETS: tp.Dict[str, DemoPreset] = {
    # The best cell of the search (docs/RESULTS.md): it cut the held-out delay-aligned I with an interval excluding 0
    # in both of its runs (5 seeds, then 10 in another session) with every codec working, where weight 3e3 at
    # mmd.num_batches=1 broke SI-SNR >= 0 dB in its rerun. The default runs it at the most seeds that fit 15 minutes
    # on 2 cores from a fresh clone.
    'default': DemoPreset(weight=1e4, num_batches=None, seeds=4, steps=REFERENCE_STEPS, measure_train=False,
                          expected='about 15 min on a 2-core AMD EPYC from a fresh clone (install, music and part 1 '
                                   'included)'),
    # `--long`: the same cell regardless of time: 10 seeds, measured on the train split too.
    'long': DemoPreset(weight=1e4, num_batches=None, seeds=10, steps=REFERENCE_STEPS, measure_train=True,
                       expected='about 38 min on a 2-core AMD EPYC from a fresh clone (install, music and part 1 '
                                'included)'),
}
DEFAULT = PRESETS['default']
SWEEP_WEIGHTS = (0., 10., 100., 1e3, 1e4)
# Part 1, planted dependence: the `planted` command's default recipe, scales and seeds at weight 100 only (its runs
# are shared with the command's)
PLANTED_STEPS = PlantedSettings().steps
DEMO_PLANTED_WEIGHTS = (100.,)


@dataclass
class DemoSettings:
    """What the demo trains and measures (see `audiocraft-mmd demo --help`)."""
    steps: int = DEFAULT.steps
    seeds: int = DEFAULT.seeds
    weight: float = DEFAULT.weight
    scale: str = DEMO_SCALE
    sweep: bool = False
    start: str = 'shipped'
    segment_duration: float = 5.
    max_segments: tp.Optional[int] = None
    jobs: int = field(default_factory=default_jobs)
    quantizer: str = 'rvq'
    start_steps: int = START_STEPS
    planted_steps: int = PLANTED_STEPS
    num_batches: tp.Optional[int] = DEFAULT.num_batches  # mmd.num_batches of the MMD codecs (None: the solver's, 4)
    mode: tp.Optional[str] = None  # mmd.mode of the MMD codecs (None: the solver's, macro_batch)
    measure_train: bool = DEFAULT.measure_train  # also measure every codec on the train split

    @classmethod
    def from_preset(cls, preset: str, **given: tp.Any) -> 'DemoSettings':
        """The settings of `PRESETS` ``preset``, with every ``given`` value that is not None instead of the preset's."""
        chosen = {key: value for key, value in asdict(PRESETS[preset]).items() if key != 'expected'}
        return cls(**{**chosen, **{key: value for key, value in given.items() if value is not None}})

    def preset_text(self, preset: str) -> str:
        """One line naming ``preset``'s cell and, when these settings run it unchanged, its expected duration."""
        cell = PRESETS[preset]
        same = self == DemoSettings.from_preset(preset)
        name = 'the default' if preset == 'default' else f'preset --{preset}'
        schedule = "the solver's mmd.num_batches" if cell.num_batches is None else f"mmd.num_batches={cell.num_batches}"
        text = (f"Running {name}: MMD weight {cell.weight:g}, {schedule}, {cell.seeds} seeds, {cell.steps} steps"
                f"{', measured on the train split too' if cell.measure_train else ''}")
        return text + (f"; expected duration {cell.expected}; finished XPs in --out are reused." if same else
                       "; changed by your options, so its measured duration does not apply.")

    @property
    def report_name(self) -> str:
        """``report-SCALE`` (``sweep-SCALE``), with the quantizer before the scale when it is not the RVQ, and
        after it each cell setting that differs from the paper's weight, `REFERENCE_STEPS` and the solver's
        schedule, the start codec's steps, no start codec and a start codec of the user's: ``-weightW``,
        ``-stepsN``, ``-nbN``, ``-MODE``, ``-startN``, ``-scratch``, ``-fromSIG`` or ``-fromHASH`` (`_start_suffix`)
        (``report-standardized-weight10000-nb1``), so that the cells of a search share one ``--out``, a cell keeps
        its name whatever the demo's default, and the reports of two start codecs do not overwrite each other."""
        kind = 'sweep' if self.sweep else 'report'
        name = f"{kind}-{self.scale}" if self.quantizer == 'rvq' else f"{kind}-{self.quantizer}-{self.scale}"
        cell = [*([f'weight{self.weight:g}'] if self.weight != PAPER_WEIGHT and not self.sweep else []),
                *([f'steps{self.steps}'] if self.steps != REFERENCE_STEPS else []),
                *([f'nb{self.num_batches}'] if self.num_batches is not None else []),
                *([self.mode] if self.mode is not None else []),
                *([f'start{self.start_steps}'] if self.start_steps != START_STEPS else []),
                *self._start_suffix]
        return '-'.join([name, *cell])

    @property
    def _start_suffix(self) -> tp.List[str]:
        """The report name's part for ``--start``: ``scratch``; none for ``shipped``, ``train`` (named by
        ``-startN``) and a copy of the shipped codec's file; ``fromSIG`` for ``//sig/SIG``; else ``fromHASH``, 8 hex
        digits of the SHA-256 of the file's bytes (one codec, one name, whatever its path) or of the name as given."""
        if self.start == SCRATCH:
            return [SCRATCH]
        if self.start in ('shipped', 'train'):
            return []
        if self.start.startswith('//sig/'):
            return [f"from{self.start[len('//sig/'):]}"]
        path = Path(self.start)
        if not path.is_file():
            return [f"from{hashlib.sha256(self.start.encode()).hexdigest()[:8]}"]
        data = path.read_bytes()
        if START_CODEC.is_file() and data == START_CODEC.read_bytes():
            return []
        return [f"from{hashlib.sha256(data).hexdigest()[:8]}"]

    @property
    def weights(self) -> tp.Tuple[float, ...]:
        return SWEEP_WEIGHTS if self.sweep else (0., self.weight)

    def validate(self) -> None:
        """Reject settings that cannot work, before any data is prepared or any codec trained."""
        from ..losses import SCALES
        problems = []
        if self.steps < 1:
            problems.append(f"--steps must be >= 1, got {self.steps}")
        problems += shared_problems(self.seeds, self.weight, self.num_batches, self.max_segments, self.jobs)
        if (problem := choice_problem('--scale', self.scale, SCALES, sep=' ')) is not None:
            problems.append(problem.rstrip('.'))
        if not self.segment_duration > 0:
            problems.append(f"--segment-duration must be > 0, got {self.segment_duration:g}")
        if self.planted_steps < 0:
            problems.append(f"--planted-steps must be >= 0 (0 skips the planted part), got {self.planted_steps}")
        if self.mode is not None and (problem := choice_problem('--mode', self.mode, MODES, sep=' ')) is not None:
            problems.append(problem.rstrip('.'))
        problems += start_problems(self.start, self.start_steps, self.quantizer)
        if problems:
            raise ConfigurationError('; '.join(problems) + '.')


def label_of(weight: float, sweep: bool) -> str:
    if sweep:
        return f'weight {weight:g}'
    return 'baseline' if weight == 0 else 'EnCodec-MMD'


def demo_xps(manifests: tp.Dict[str, Path], start: tp.Optional[str], settings: DemoSettings) -> tp.List[XP]:
    """Every (weight, seed) XP, fine-tuned from ``start`` (a ``continue_from`` value; None: from scratch) on the
    same data.

    Weight-0 XPs name only their weight (`recipes.mmd_argv`), so the cells of a search share them.
    """
    return [codec_xp(label_of(weight, settings.sweep), manifests, start, settings.steps, weight, seed,
                     scale=settings.scale, quantizer=settings.quantizer, num_batches=settings.num_batches,
                     mode=settings.mode)
            for weight in settings.weights for seed in range(settings.seeds)]


def measure_split(start: tp.Optional[str], xps: tp.Sequence[XP], manifests: tp.Dict[str, Path], split: str,
                  settings: DemoSettings, out: Path) -> tp.Tuple[tp.Optional[dict], tp.Dict[str, tp.List[dict]]]:
    """Measure the start codec (a ``continue_from`` value, or None) and every trained XP on the ``split`` manifest
    (``evaluate``: the held-out track(s); ``train``), each measurement cached beside its XP.
    Returns (the start codec's figures or None, {label: one figure dict per seed, with its sig, seed and weight})."""
    suffix, where = ('', '') if split == 'evaluate' else (f'-{split}', f' ({split})')
    start_figures = None
    if start is not None:
        start_name = start.removeprefix('//pretrained/')
        digest = hashlib.sha256(start_name.encode()).hexdigest()[:12]
        start_figures = measure(start_name, manifests[split], settings.segment_duration, settings.max_segments,
                                f'measuring start{where}', cache=out / 'dora' / f'start-{digest}{suffix}.json')
    runs: tp.Dict[str, tp.List[dict]] = {}
    for xp in xps:
        assert xp.folder is not None
        figures = measure(xp.folder / 'checkpoint.th', manifests[split], settings.segment_duration,
                          settings.max_segments, f'measuring {xp.label} seed {xp.seed}{where}',
                          cache=xp.folder / f'demo_measurement{suffix}.json')
        runs.setdefault(xp.label, []).append({**figures, 'sig': xp.folder.name, 'seed': xp.seed, 'weight': xp.weight})
    return start_figures, runs


def summarize(runs: tp.Sequence[dict]) -> tp.Dict[str, Interval]:
    """Mean and 95 % interval over seeds of each figure."""
    return seed_intervals(runs, [key for key, *_ in FIGURES])


def format_table(runs: tp.Dict[str, tp.List[dict]], start: tp.Optional[dict]) -> str:
    """One row per figure: the start codec, then mean ± 95 % half-interval of each label, and, with two
    labels, the paired change."""
    labels = list(runs)
    summaries = {label: summarize(r) for label, r in runs.items()}
    pair = len(labels) == 2
    rows = [['', *(['start'] if start else []), *labels, *(['change', ''] if pair else [])]]
    for key, label, spec, _ in FIGURES:
        if not all(key in summaries[name] for name in labels):
            continue
        row = [label, *([format(start[key], spec)] if start else []),
               *(summaries[name][key].format(spec) for name in labels)]
        if pair:
            change = paired_change(runs[labels[0]], runs[labels[1]], key)
            base = summaries[labels[0]][key].mean
            row += [change.format(spec), f"{100 * change.mean / abs(base):+.1f}%" if base else 'n/a']
        rows.append(row)
    widths = [max(len(label) for _, label, _, _ in FIGURES) + 2, *([12] if start else []), *[22] * len(labels), 22, 9]
    return text_table(rows, widths)


def plot_results(runs: tp.Dict[str, tp.List[dict]], path: Path) -> Path:
    """Bars (mean, 95 % interval, every seed as a dot) of each figure, one bar per label."""
    from ..plotting import pyplot, save_figure
    fig, axes = pyplot().subplots(2, 5, figsize=(17, 6.4))
    for ax, (key, label, spec, lower_better) in zip(axes.flat, FIGURES):
        seed_bars(ax, {name: [run[key] for run in members] for name, members in runs.items()}, fontsize=7)
        better = {True: 'lower is better', False: 'higher is better', None: 'scale of the latent'}[lower_better]
        ax.set_title(f"{label}\n({better})", fontsize=8)
    fig.suptitle('audiocraft-mmd demo: held-out tracks, mean and 95 % interval over seeds', fontsize=10)
    return save_figure(fig, path)


def plot_sweep(runs: tp.Dict[str, tp.List[dict]], path: Path) -> Path:
    """The paper's Fig. 2 (MMD, I, MSSpec against the weight) with 95 % intervals, through `report.plot_rows`."""
    from ..report import XPRow, plot_rows
    rows = [XPRow(sig=run['sig'], name=label, weight=run['weight'], alignment='delay', kernel='multiscale_gaussian',
                  epochs=0, mmd=run['mmd'], tc_percent_delay=run['tc_percent_delay'],
                  tc_percent_parallel=run['tc_percent_parallel'], msspec=run['msspec'],
                  mmd_scale_free=run['mmd_scale_free'], seed=run['seed'])
            for label, members in runs.items() for run in members]
    return plot_rows(rows, path)


def planted_part(out: Path, settings: DemoSettings):
    """Part 1: `audiocraft-mmd planted` at the demo's weights (its `PlantedResults`), or None with
    ``planted_steps`` 0."""
    if not settings.planted_steps:
        return None
    print("\nPart 1 of 2: the MMD where it must act, on a point codec whose codebooks are dependent by "
          "construction (`audiocraft-mmd planted`, docs/PLANTED.md).", flush=True)
    planted = run_planted(out, PlantedSettings(steps=settings.planted_steps), weights=DEMO_PLANTED_WEIGHTS,
                          scales=PLANTED_SCALES, seeds=PLANTED_SEEDS, jobs=settings.jobs)
    print("\nPart 2 of 2: a working codec fine-tuned with and without the MMD on real music.", flush=True)
    return planted


def train_codecs(out: Path, manifests: tp.Mapping[str, Path], start: tp.Optional[str], start_text: str,
                 settings: DemoSettings) -> tp.List[XP]:
    """Fine-tune (or reuse) every codec of `demo_xps` in ``out/dora``; returns them, located."""
    xps = demo_xps(manifests, start, settings)
    weights = ', '.join(f'{w:g}' for w in settings.weights)
    locate_xps(xps, out / 'dora')
    # mmd.num_batches, mmd.mode if given
    schedule = ''.join(f', {arg}' for arg in mmd_argv(1., settings.scale, settings.num_batches, settings.mode)[2:])
    verb, origin = (('Fine-tuning', f'from the {start_text}') if start is not None else
                    ('Training', 'from scratch (no start codec)'))
    print(f"{verb} {len(xps)} {settings.quantizer} codecs{reuse_text(xps)} {origin}: MMD weights "
          f"{weights} (scale {settings.scale}, delay alignment{schedule}), seeds 0-{settings.seeds - 1}, "
          f"{xps[0].steps} steps each, {settings.jobs} at a time; XPs in {out / 'dora'}", flush=True)
    train_xps(xps, out / 'dora', settings.jobs)
    return xps


def print_results(runs: tp.Mapping[str, tp.List[dict]], start_figures: tp.Optional[dict],
                  train_split: tp.Optional[dict], manifests: tp.Mapping[str, Path], settings: DemoSettings) -> None:
    """The held-out table, every seed's working-codec checks and, with ``--measure-train``, the train-split table."""
    first = next(iter(runs.values()))[0]
    samples = first['dependence_samples']
    print(f"\nQuantizer {settings.quantizer}. Held-out track(s) of {manifests['evaluate']}: {first['num_clips']} "
          f"segments of {first['clip_seconds']:g} s; "
          f"{settings.seeds} seed(s) per codec, mean ± 95 % interval; dependence over {samples['delay']:,} "
          f"delay-aligned and {samples['parallel']:,} parallel samples for every codec, MMD over "
          f"{first['mmd_samples']:,} samples.")
    print(format_table(runs, start_figures))
    print('\nWorking-codec checks (SI-SNR >= 0 dB, code ablation gap >= 10 dB, every codebook entropy >= half of '
          'log2(bins)), every seed:')
    start = {} if start_figures is None else {'start': [{**start_figures, 'seed': '-'}]}
    for label, members in {**start, **runs}.items():
        failures = failed_checks(members)
        print(f"  {label}: {'all passed' if not failures else '; '.join(failures)}")
    if train_split is not None:
        first = next(iter(train_split['runs'].values()))[0]
        print(f"\nThe same codecs on the train split {manifests['train']} (where the paper measures): "
              f"{first['num_clips']} segments, dependence over {first['dependence_samples']['delay']:,} delay-aligned "
              "samples.")
        print(format_table(train_split['runs'], train_split['start_codec']))


def run_demo(out: Path, cache: Path, audio: tp.Optional[Path] = None,
             settings: tp.Optional[DemoSettings] = None, command: tp.Optional[str] = None,
             preset: tp.Optional[str] = None) -> dict:
    """Prepare the data, fine-tune every codec from the start codec, measure them on the held-out track(s),
    print the table and the verdict, write `DemoSettings.report_name` ``.json`` (with ``command``, the command line
    that ran it, and with ``measure_train`` the same figures on the train split) and ``.png`` in ``out``. Runs with
    other settings in the same ``out`` reuse the XPs they share. With ``preset`` (a `PRESETS` key), first say which
    cell runs and how long it is expected to take."""
    settings = settings or DemoSettings()
    settings.validate()
    if preset is not None:
        print(settings.preset_text(preset), flush=True)
    out = Path(out)
    manifests = prepare_music(out, cache, audio, settings.segment_duration)
    planted = planted_part(out, settings)
    start, start_text = resolve_start(settings.start, settings.start_steps, settings.quantizer, manifests, out)
    xps = train_codecs(out, manifests, start, start_text, settings)
    start_figures, runs = measure_split(start, xps, manifests, 'evaluate', settings, out)
    train_split = None
    if settings.measure_train:
        train_start, train_runs = measure_split(start, xps, manifests, 'train', settings, out)
        train_split = {'start_codec': train_start, 'runs': train_runs,
                       'summary': {label: {k: v.to_dict() for k, v in summarize(r).items()}
                                   for label, r in train_runs.items()}}
    base, *others = runs  # the baseline's label first
    sentences = [(f"{label}: " if settings.sweep else '') + verdict(base, runs[base], label, runs[label])
                 for label in others]
    print_results(runs, start_figures, train_split, manifests, settings)
    print('\n' + '\n'.join(sentences))
    report = {'command': command, 'settings': {**vars(settings), 'weights': list(settings.weights)},
              'quantizer': settings.quantizer,
              'start': start_text,
              'data': {split: str(path) for split, path in manifests.items()}, 'verdict': sentences,
              'start_codec': start_figures, 'runs': runs,
              'planted': None if planted is None else {'report': str(out / f'{planted.settings.report_name}.json'),
                                                       'verdict': planted.verdict()},
              'summary': {label: {k: v.to_dict() for k, v in summarize(r).items()} for label, r in runs.items()},
              'train_split': train_split}
    out.mkdir(parents=True, exist_ok=True)
    name = settings.report_name  # runs of other modes share the XPs
    (out / f'{name}.json').write_text(json.dumps(report, indent=2))
    plot = plot_sweep(runs, out / f'{name}.png') if settings.sweep else plot_results(runs, out / f'{name}.png')
    print(f"Wrote {out / f'{name}.json'} and {plot}")
    print(f"Train on the same data yourself: uv run dora -P audiocraft_mmd run {CODEC_SOLVER} "
          + ' '.join([*(f'datasource.{split}={path}' for split, path in manifests.items()),
                      *([f'continue_from={start}'] if start is not None else []), *QUANTIZERS[settings.quantizer]]))
    if planted is not None:
        print(f"\nWhat the demo shows.\n1. {planted.summary()}\n2. Real music: " + ' '.join(sentences))
    return report
