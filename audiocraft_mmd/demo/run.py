"""`audiocraft-mmd demo`: fine-tune a working tiny codec with and without the MMD on real music, over
several seeds, and measure every codec on held-out tracks with `audiocraft_mmd.metrics.codec`.

A tiny codec only transmits music after ~1000 steps (before that its decoder ignores the codes), more
than a demo can afford on a CPU. So every codec of the demo starts from the same working codec, the
*start codec*: shipped with the package (trained by ``--start train`` on the demo music's train split,
see `START_ARGV`), trained on the user's data with ``--start train``, or any codec given by name.
"""
import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import typing as tp
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..errors import ConfigurationError, choice_problem
from ..planted.codec import PlantedSettings
from ..planted.run import PLANTED_SCALES, PLANTED_SEEDS, run_planted
from ..processes import default_jobs, sigterm_as_exit
from ..solvers.mmd_config import MODES
from ..stats import Interval, mean_interval, paired_change

SOLVER = 'solver=compression/encodec_mmd_debug'
SAMPLE_RATE = 16000  # the debug codec's rate
UPDATES_PER_EPOCH = 50
START_CODEC = Path(__file__).with_name('start_codec.th')
BATCH_SIZE = 8  # the debug codec's
# How the shipped start codec was trained (with the demo music's train and valid splits): 40 epochs of 50
# updates, MMD measured but not trained. `--start train` runs this on the data given (`--start-steps`: more
# epochs of 50 updates).
START_STEPS = 2000


def start_argv(steps: int = START_STEPS) -> tp.List[str]:
    """The start codec's recipe for ``steps`` (a multiple of `UPDATES_PER_EPOCH`), without the data."""
    return [SOLVER, 'datasource.evaluate=null', 'datasource.generate=null',
            f'optim.epochs={steps // UPDATES_PER_EPOCH}', f'optim.updates_per_epoch={UPDATES_PER_EPOCH}',
            'mmd.weight=0', 'seed=2036']


START_ARGV = start_argv()  # the shipped codec's
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
MACRO_CLIPS = 32  # held-out segments per MMD estimate
MEASURE_SEED = 0  # the same draws (MMD permutations, time shuffles, dependence null) for every codec
MSSPEC_TOLERANCE = 0.05  # the verdict's bound on the MSSpec increase
# Part 1, planted dependence: the `planted` command's default recipe, scales and seeds at weight 100 only (its runs
# are shared with the command's)
PLANTED_STEPS = PlantedSettings().steps
DEMO_PLANTED_WEIGHTS = (100.,)
# --quantizer: the overrides of the start codec and of every fine-tuned codec (paper Table 4), and the
# quantizer type each needs in its start codec. The shipped start codec is an RVQ.
QUANTIZERS: tp.Dict[str, tp.List[str]] = {
    'rvq': [],
    'pvq': ['encodec.quantizer=pvq'],
    'pvq-dropout': ['encodec.quantizer=pvq', 'pvq.q_dropout=true'],
}
QUANTIZER_TYPE = {'rvq': 'rvq', 'pvq': 'pvq', 'pvq-dropout': 'pvq'}
_PROGRESS = re.compile(r'Train \| Epoch (\d+) \| (\d+)/(\d+)')


@dataclass
class DemoXP:
    """One codec the demo trains: a weight and a seed, fine-tuned from the start codec."""
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

    @property
    def finished(self) -> bool:
        """The XP has run all its epochs (its history holds them): nothing to train."""
        return self.epochs_done >= self.epochs


def locate_xps(xps: tp.Sequence[DemoXP], dora_dir: Path) -> None:
    """Set the ``folder`` of each XP that has none: its Dora signature's folder under ``dora_dir`` (made or not).
    Composing an XP's config takes a while, so a located XP is not located again."""
    from ..train import main
    main.dora.dir = dora_dir
    for xp in xps:
        if xp.folder is None:
            xp.folder = main.get_xp(xp.argv).folder


def reuse_text(xps: tp.Sequence[DemoXP]) -> str:
    """What `train_xps` will reuse of located XPs: '' when nothing, else e.g. ' (2 of 6 finished: reused)'."""
    finished = sum(xp.finished for xp in xps)
    return f" ({finished} of {len(xps)} finished: reused)" if finished else ''


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
    def quantizer_argv(self) -> tp.List[str]:
        """The overrides of ``--quantizer`` (none for the default RVQ, so its XPs keep their signatures)."""
        return list(QUANTIZERS[self.quantizer])

    def mmd_argv(self, weight: float) -> tp.List[str]:
        """The ``mmd.*`` overrides of a codec of ``weight``. Weight-0 XPs name only the weight (nothing is trained
        with the others), so runs with another ``--scale``, ``--num-batches`` or ``--mode`` reuse them."""
        if weight == 0:
            return ['mmd.weight=0']
        return [f'mmd.weight={weight:g}', f'mmd.scale={self.scale}',
                *([f'mmd.num_batches={self.num_batches}'] if self.num_batches is not None else []),
                *([f'mmd.mode={self.mode}'] if self.mode is not None else [])]

    @property
    def report_name(self) -> str:
        """``report-SCALE`` (``sweep-SCALE``), with the quantizer before the scale when it is not the RVQ, and
        after it each cell setting that differs from the paper's weight, `REFERENCE_STEPS` and the solver's
        schedule: ``-weightW``, ``-stepsN``, ``-nbN``, ``-MODE`` (``report-standardized-weight10000-nb1``), so that
        the cells of a search share one ``--out`` and a cell keeps its name whatever the demo's default."""
        kind = 'sweep' if self.sweep else 'report'
        name = f"{kind}-{self.scale}" if self.quantizer == 'rvq' else f"{kind}-{self.quantizer}-{self.scale}"
        cell = [*([f'weight{self.weight:g}'] if self.weight != PAPER_WEIGHT and not self.sweep else []),
                *([f'steps{self.steps}'] if self.steps != REFERENCE_STEPS else []),
                *([f'nb{self.num_batches}'] if self.num_batches is not None else []),
                *([self.mode] if self.mode is not None else [])]
        return '-'.join([name, *cell])

    @property
    def weights(self) -> tp.Tuple[float, ...]:
        return SWEEP_WEIGHTS if self.sweep else (0., self.weight)

    def validate(self) -> None:
        """Reject settings that cannot work, before any data is prepared or any codec trained."""
        from ..losses import SCALES
        problems = []
        if self.steps < 1:
            problems.append(f"--steps must be >= 1, got {self.steps}")
        if self.seeds < 1:
            problems.append(f"--seeds must be >= 1 (>= 2 for an interval), got {self.seeds}")
        if not self.weight > 0:
            problems.append(f"--weight must be > 0 (the baseline is weight 0), got {self.weight:g}")
        if (problem := choice_problem('--scale', self.scale, SCALES, sep=' ')) is not None:
            problems.append(problem.rstrip('.'))
        if not self.segment_duration > 0:
            problems.append(f"--segment-duration must be > 0, got {self.segment_duration:g}")
        if self.max_segments is not None and self.max_segments < 1:
            problems.append(f"--segments must be >= 1, got {self.max_segments}")
        if self.jobs < 1:
            problems.append(f"--jobs must be >= 1, got {self.jobs}")
        if self.planted_steps < 0:
            problems.append(f"--planted-steps must be >= 0 (0 skips the planted part), got {self.planted_steps}")
        if self.num_batches is not None and self.num_batches < 1:
            problems.append(f"--num-batches must be >= 1 (mmd.num_batches), got {self.num_batches}")
        if self.mode is not None and (problem := choice_problem('--mode', self.mode, MODES, sep=' ')) is not None:
            problems.append(problem.rstrip('.'))
        problems += self.start_problems()
        if problems:
            raise ConfigurationError('; '.join(problems) + '.')

    def start_problems(self) -> tp.List[str]:
        """What is wrong with ``--start``, ``--start-steps`` and ``--quantizer`` together (shared with lm-gap)."""
        problems = []
        if self.start_steps < UPDATES_PER_EPOCH or self.start_steps % UPDATES_PER_EPOCH:
            problems.append(f"--start-steps must be a positive multiple of {UPDATES_PER_EPOCH} (epochs of "
                            f"{UPDATES_PER_EPOCH} updates), got {self.start_steps}")
        elif self.start_steps != START_STEPS and self.start != 'train':
            problems.append(f"--start-steps {self.start_steps} trains a start codec: it needs --start train "
                            f"(--start {self.start} is already trained)")
        if self.start == 'shipped' and not START_CODEC.is_file():
            problems.append(f"the shipped start codec {START_CODEC} is missing: reinstall the package or pass "
                            "--start train")
        if (problem := choice_problem('--quantizer', self.quantizer, QUANTIZERS, sep=' ')) is not None:
            problems.append(problem.rstrip('.'))
        else:
            problem = self._start_quantizer_problem()
            if problem:
                problems.append(problem)
        return problems


    def _start_quantizer_problem(self) -> tp.Optional[str]:
        """Why the start codec cannot start a ``--quantizer`` codec (another quantizer type), or None.
        Reads only a named codec's config."""
        wanted = QUANTIZER_TYPE[self.quantizer]
        if self.start == 'train':
            return None
        if self.start == 'shipped':
            have, what = 'rvq', f"the shipped start codec {START_CODEC.name}"
        else:
            from ..models.compression import locate_compression_model
            try:
                source = locate_compression_model(self.start)
            except ConfigurationError as exc:  # reported as it is, with the other problems
                return f"--start {self.start}: {str(exc).rstrip('.')}"
            if source.state is None:  # an audiocraft release: an RVQ EnCodec (a DAC is refused when fine-tuned)
                have = 'rvq'
            else:
                from omegaconf import OmegaConf
                have = OmegaConf.create(source.state['xp.cfg']).get('encodec', {}).get('quantizer')
            what = f"--start {self.start}"
        if have == wanted:
            return None
        return (f"--quantizer {self.quantizer} needs a start codec with encodec.quantizer={wanted}, but {what} has "
                f"{have}: pass --start train (trains a {self.quantizer} start codec, {self.start_steps} steps) or a "
                f"{wanted} codec")


def check_held_out(manifest: Path, segment_duration: float) -> None:
    """Refuse, before any training, held-out audio too short for one segment."""
    from ..data.audio_check import read_manifest
    from ..metrics.codec import manifest_file
    durations = [meta.duration for meta in read_manifest(manifest_file(manifest))]
    if not any(duration >= segment_duration for duration in durations):
        longest = max(durations, default=0.)
        raise ConfigurationError(f"The held-out track(s) in {manifest} are shorter than --segment-duration "
                                 f"{segment_duration:g} s (longest {longest:.2f} s): lower --segment-duration.")


def label_of(weight: float, sweep: bool) -> str:
    if sweep:
        return f'weight {weight:g}'
    return 'baseline' if weight == 0 else 'EnCodec-MMD'


def epoch_schedule(steps: int) -> tp.Tuple[int, int]:
    """(epochs, updates per epoch) of a ``steps``-step run: epochs of at most `UPDATES_PER_EPOCH` updates (the
    train split's ``num_samples`` is set to match, so that an epoch is not cut short by the loader)."""
    updates = min(steps, UPDATES_PER_EPOCH)
    return -(-steps // updates), updates


def demo_xps(manifests: tp.Dict[str, Path], start: str, settings: DemoSettings) -> tp.List[DemoXP]:
    """Every (weight, seed) XP, fine-tuned from ``start`` (a ``continue_from`` value) on the same data.

    Weight-0 XPs name only their weight (`DemoSettings.mmd_argv`), so the cells of a search share them.
    """
    epochs, updates = epoch_schedule(settings.steps)
    common = [SOLVER, f'datasource.train={manifests["train"]}', f'datasource.valid={manifests["valid"]}',
              'datasource.evaluate=null', 'datasource.generate=null', f'continue_from={start}',
              f'optim.epochs={epochs}', f'optim.updates_per_epoch={updates}',
              f'dataset.train.num_samples={updates * BATCH_SIZE}', 'mmd.alignment=delay', *settings.quantizer_argv]
    xps = []
    for weight in settings.weights:
        for seed in range(settings.seeds):
            xps.append(DemoXP(label_of(weight, settings.sweep), weight, seed,
                              [*common, *settings.mmd_argv(weight), f'seed={seed}'], epochs * updates, epochs))
    return xps


def train_xps(xps: tp.Sequence[DemoXP], dora_dir: Path, jobs: int) -> None:
    """Run the XPs through the plugin's Dora main, ``jobs`` at a time (one CPU thread each), with progress bars.

    A finished XP (all its epochs in its history) is not run again. When this returns, raises, or its process
    gets SIGTERM, no ``dora run`` it started is left running (a stopped XP resumes from its last epoch).
    """
    env = dict(os.environ, AUDIOCRAFT_DORA_DIR=str(dora_dir), PYTHONUNBUFFERED='1')
    dora = Path(sys.executable).parent / 'dora'
    locate_xps(xps, dora_dir)
    running: tp.List[tp.Tuple[DemoXP, subprocess.Popen, threading.Thread, tp.List[str]]] = []
    queue = [(position, xp) for position, xp in enumerate(xps) if not xp.finished]

    def wait_one() -> None:
        while not any(proc.poll() is not None for _, proc, _, _ in running):
            time.sleep(0.5)
        index = next(i for i, (_, proc, _, _) in enumerate(running) if proc.poll() is not None)
        xp, proc, thread, log = running.pop(index)
        thread.join()
        if proc.returncode != 0:
            tail = ''.join(log[-30:])
            raise RuntimeError(f"Training {xp.label} seed {xp.seed} failed (dora run {' '.join(xp.argv)}):\n{tail}")

    with contextlib.ExitStack() as stack:
        stack.enter_context(sigterm_as_exit())
        stack.callback(_stop, running)
        while queue or running:
            while queue and len(running) < jobs:
                position, xp = queue.pop(0)
                desc = f'training {xp.label}' + (f' seed {xp.seed}' if len(xps) > 2 else '')
                bar = tqdm(total=xp.steps, desc=desc, unit='step', position=position, leave=True)
                proc = subprocess.Popen([str(dora), '-P', 'audiocraft_mmd', 'run', *xp.argv], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                log: tp.List[str] = []
                thread = threading.Thread(target=_follow, args=(proc, bar, log), daemon=True)
                thread.start()
                running.append((xp, proc, thread, log))
            wait_one()


def _stop(running: tp.Sequence[tp.Tuple[DemoXP, subprocess.Popen, threading.Thread, tp.List[str]]]) -> None:
    """Terminate and reap what is left running after an error or a signal."""
    for _, proc, _, _ in running:
        proc.terminate()
    for _, proc, _, _ in running:
        proc.wait()


def _follow(proc: subprocess.Popen, bar: tqdm, log: tp.List[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        log.append(line)
        match = _PROGRESS.search(line)
        if match:
            epoch, step, total = map(int, match.groups())
            bar.n = (epoch - 1) * total + step
            bar.refresh()
    bar.n = bar.total
    bar.close()


def start_xp(manifests: tp.Dict[str, Path], settings: DemoSettings) -> DemoXP:
    """The XP of ``--start train``: `start_argv` of ``--start-steps``, the ``--quantizer`` overrides and the data.
    At the default steps its argv is `START_ARGV`'s, so its signature is the shipped codec's recipe's."""
    return DemoXP('start codec', 0., 2036, [*start_argv(settings.start_steps), *settings.quantizer_argv,
                                            f'datasource.train={manifests["train"]}',
                                            f'datasource.valid={manifests["valid"]}'],
                  settings.start_steps, settings.start_steps // UPDATES_PER_EPOCH)


def resolve_start(settings: DemoSettings, manifests: tp.Dict[str, Path], out: Path) -> tp.Tuple[str, str]:
    """The start codec as a ``continue_from`` value, and a description of it.

    ``shipped``: the package's codec. ``train``: trains `start_argv` of ``--start-steps`` with the
    ``--quantizer`` overrides on the data (about 20 minutes on one core at the default 2000 steps) and exports
    it to ``out/start_codec_<sig>.th``. Anything else names a compression model.
    """
    from audiocraft.utils.export import export_encodec
    from ..compat import allow_audiocraft_checkpoints
    from ..models.compression import locate_compression_model
    if settings.start == 'shipped':
        return f'//pretrained/{START_CODEC}', f"shipped start codec {START_CODEC.name} (demo music, {START_STEPS} steps)"
    if settings.start == 'train':
        xp = start_xp(manifests, settings)
        locate_xps([xp], out / 'dora')
        assert xp.folder is not None
        if xp.finished:
            print(f"Reusing the {settings.quantizer} start codec trained on {manifests['train']}: "
                  f"{settings.start_steps} steps (XP {xp.folder.name})", flush=True)
        else:
            resumed = f", resuming at epoch {xp.epochs_done + 1} of {xp.epochs}" if xp.epochs_done else ''
            print(f"Training the start codec ({settings.quantizer}) on {manifests['train']}: "
                  f"{settings.start_steps} steps{resumed}", flush=True)
        train_xps([xp], out / 'dora', 1)
        exported = out / f'start_codec_{xp.folder.name}.th'  # named by its XP: other data, another file
        if not exported.is_file():
            allow_audiocraft_checkpoints()  # export_encodec's torch.load reads the XP's OmegaConf config
            export_encodec(xp.folder / 'checkpoint.th', exported)
        return (f'//pretrained/{exported.resolve()}',
                f"{settings.quantizer} start codec trained on {manifests['train']}, {settings.start_steps} steps "
                f"(XP {xp.folder.name})")
    source = locate_compression_model(settings.start)
    if source.kind == 'checkpoint':
        return str(source.path), f"start codec {settings.start}"
    return f'//pretrained/{source.path or source.name}', f"start codec {settings.start}"


FIGURES = [  # (key, label, format, lower is better; None: neither)
    ('tc_percent_delay', 'I, delay-aligned (%)', '.3f', True),
    ('tc_percent_parallel', 'I, parallel-aligned (%)', '.3f', True),
    ('mmd', 'MMD, fixed bandwidths', '.2e', True),
    ('mmd_scale_free', 'MMD, scale-free', '.2e', True),
    ('latent_rms', 'latent rms', '.3f', None),
    ('msspec', 'MSSpec', '.4f', True),
    ('sisnr_db', 'SI-SNR (dB)', '.2f', False),
    ('code_ablation_gap_db', 'code ablation gap (dB)', '.1f', False),
    ('codebook_entropy_min_bits', 'codebook entropy, min (bits)', '.2f', False),
    ('codebook_entropy_mean_bits', 'codebook entropy, mean (bits)', '.2f', False),
]


def measure(model_name: tp.Union[str, Path], manifest: Path, settings: DemoSettings, desc: str = 'measuring',
            seed: int = MEASURE_SEED, cache: tp.Optional[Path] = None) -> dict:
    """Every figure of one codec on the held-out manifest, with the same draws for every codec.

    With ``cache`` (a JSON file), a measurement made with the same model file, manifest and settings is
    read back instead of measured again.
    """
    from ..metrics.codec import measure_codec
    from ..models.compression import load_codec
    key = {'model': str(model_name), 'model_mtime_ns': Path(model_name).stat().st_mtime_ns if Path(model_name).is_file()
           else None, 'manifest': str(manifest), 'segment_duration': settings.segment_duration,
           'max_segments': settings.max_segments, 'macro_clips': MACRO_CLIPS, 'seed': seed}
    if cache is not None and cache.is_file():
        stored = json.loads(cache.read_text())
        if stored.get('key') == key:
            return stored['figures']
    model, cfg = load_codec(model_name)
    measured = measure_codec(model, manifest, cfg, segment_duration=settings.segment_duration,
                             max_segments=settings.max_segments, macro_clips=MACRO_CLIPS, seed=seed, desc=desc)
    figures = measured.to_dict()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({'key': key, 'figures': figures}))
    return figures


def measure_split(start: str, xps: tp.Sequence[DemoXP], manifests: tp.Dict[str, Path], split: str,
                  settings: DemoSettings, out: Path) -> tp.Tuple[dict, tp.Dict[str, tp.List[dict]]]:
    """Measure the start codec (a ``continue_from`` value) and every trained XP on the ``split`` manifest
    (``evaluate``: the held-out track(s); ``train``), each measurement cached beside its XP.
    Returns (the start codec's figures, {label: one figure dict per seed, with its sig, seed and weight})."""
    suffix, where = ('', '') if split == 'evaluate' else (f'-{split}', f' ({split})')
    start_name = start.removeprefix('//pretrained/')
    digest = hashlib.sha256(start_name.encode()).hexdigest()[:12]
    start_figures = measure(start_name, manifests[split], settings, f'measuring start{where}',
                            cache=out / 'dora' / f'start-{digest}{suffix}.json')
    runs: tp.Dict[str, tp.List[dict]] = {}
    for xp in xps:
        assert xp.folder is not None
        figures = measure(xp.folder / 'checkpoint.th', manifests[split], settings,
                          f'measuring {xp.label} seed {xp.seed}{where}',
                          cache=xp.folder / f'demo_measurement{suffix}.json')
        runs.setdefault(xp.label, []).append({**figures, 'sig': xp.folder.name, 'seed': xp.seed, 'weight': xp.weight})
    return start_figures, runs


def summarize(runs: tp.Sequence[dict]) -> tp.Dict[str, Interval]:
    """Mean and 95 % interval over seeds of each figure."""
    return {key: mean_interval([run[key] for run in runs]) for key, *_ in FIGURES if all(key in r for r in runs)}


def failed_checks(runs: tp.Sequence[dict]) -> tp.List[str]:
    """The working-codec checks failed by any seed, with their numbers."""
    return [f"seed {run['seed']}: {check['name']} failed, {check['detail']}"
            for run in runs for check in run['checks'] if not check['passed']]


def verdict(base_label: str, base: tp.Sequence[dict], label: str, other: tp.Sequence[dict]) -> str:
    """Says "the effect shows" only when the numbers show it, else which condition failed, with the numbers.

    The conditions: both codecs pass the working-codec checks at every seed, the delay-aligned I is
    lower with a 95 % interval of the paired change that excludes 0, and MSSpec rises by at most 5 %.
    """
    change = paired_change(base, other, 'tc_percent_delay')
    base_i, other_i = (mean_interval([r['tc_percent_delay'] for r in runs]) for runs in (base, other))
    msspec_base = mean_interval([r['msspec'] for r in base]).mean
    msspec_change = (mean_interval([r['msspec'] for r in other]).mean - msspec_base) / msspec_base
    dependence = (f"delay-aligned I {base_i.format('.3f')} % ({base_label}) vs {other_i.format('.3f')} % ({label}), "
                  f"paired change {change.format('.3f')} points over {change.n} seed(s)")
    problems = []
    for name, runs in ((base_label, base), (label, other)):
        failures = failed_checks(runs)
        if failures:
            problems.append(f"{name} is not a working codec ({'; '.join(failures)})")
    if change.n < 2:
        problems.append("one seed gives no interval (use --seeds 3 or more)")
    elif not (change.high < 0):
        problems.append("the interval of the change in delay-aligned I does not exclude no change"
                        if change.low <= 0 else "the delay-aligned I went up")
    if msspec_change > MSSPEC_TOLERANCE:
        problems.append(f"MSSpec rose by {100 * msspec_change:.1f} % (more than {100 * MSSPEC_TOLERANCE:g} %)")
    if not problems:
        return f"The effect shows: {dependence}, with MSSpec {100 * msspec_change:+.1f} %."
    return (f"The effect does not show at this scale: {'; '.join(problems)}. Measured: {dependence}; "
            f"MSSpec {100 * msspec_change:+.1f} %.")


def format_table(runs: tp.Dict[str, tp.List[dict]], start: tp.Optional[dict]) -> str:
    """One row per figure: the start codec, then mean ± 95 % half-interval of each label, and, with two
    labels, the paired change."""
    labels = list(runs)
    summaries = {label: summarize(r) for label, r in runs.items()}
    width = max(len(label) for _, label, _, _ in FIGURES) + 2
    col = 22
    head = f"{'':{width}}" + (f"{'start':>12}" if start else '') + ''.join(f"{label:>{col}}" for label in labels)
    pair = len(labels) == 2
    if pair:
        head += f"{'change':>{col}}{'':>9}"
    lines = [head]
    for key, label, spec, _ in FIGURES:
        if not all(key in summaries[name] for name in labels):
            continue
        line = f"{label:{width}}" + (f"{format(start[key], spec):>12}" if start else '')
        line += ''.join(f"{summaries[name][key].format(spec):>{col}}" for name in labels)
        if pair:
            change = paired_change(runs[labels[0]], runs[labels[1]], key)
            base = summaries[labels[0]][key].mean
            relative = f"{100 * change.mean / abs(base):+.1f}%" if base else 'n/a'
            line += f"{change.format(spec):>{col}}{relative:>9}"
        lines.append(line)
    return '\n'.join(lines)


def plot_results(runs: tp.Dict[str, tp.List[dict]], path: Path) -> Path:
    """Bars (mean, 95 % interval, every seed as a dot) of each figure, one bar per label."""
    from ..plotting import pyplot, save_figure
    fig, axes = pyplot().subplots(2, 5, figsize=(17, 6.4))
    labels = list(runs)
    colors = ['#8c8c8c', '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728']
    for ax, (key, label, spec, lower_better) in zip(axes.flat, FIGURES):
        summaries = [mean_interval([r[key] for r in runs[name]]) for name in labels]
        means = [s.mean for s in summaries]
        errors = [0 if s.n < 2 else s.half_width for s in summaries]
        ax.bar(range(len(labels)), means, yerr=errors, capsize=4, color=colors[:len(labels)], alpha=0.8)
        for i, name in enumerate(labels):
            ax.plot([i] * len(runs[name]), [r[key] for r in runs[name]], 'k.', markersize=4)
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        better = {True: 'lower is better', False: 'higher is better', None: 'scale of the latent'}[lower_better]
        ax.set_title(f"{label}\n({better})", fontsize=8)
    fig.suptitle('audiocraft-mmd demo: held-out tracks, mean and 95 % interval over seeds', fontsize=10)
    return save_figure(fig, path)


def plot_sweep(runs: tp.Dict[str, tp.List[dict]], xps: tp.Sequence[DemoXP], path: Path) -> Path:
    """The paper's Fig. 2 (MMD, I, MSSpec against the weight) with 95 % intervals, through `report.plot_rows`."""
    from ..report import XPRow, plot_rows
    by_sig = {xp.folder.name: xp for xp in xps if xp.folder is not None}
    rows = []
    for label, members in runs.items():
        for run in members:
            xp = by_sig[run['sig']]
            rows.append(XPRow(sig=run['sig'], name=label, weight=xp.weight, alignment='delay',
                              kernel='multiscale_gaussian', epochs=0, mmd=run['mmd'],
                              tc_percent_delay=run['tc_percent_delay'], tc_percent_parallel=run['tc_percent_parallel'],
                              msspec=run['msspec'], mmd_scale_free=run['mmd_scale_free'], seed=xp.seed))
    return plot_rows(rows, path)


def prepare_music(out: Path, cache: Path, audio: tp.Optional[Path], held_out_seconds: float) -> tp.Dict[str, Path]:
    """Check that ``cache`` and ``out`` are writable, prepare the music (``audio`` or the Debian songs) and check
    the held-out track holds ``held_out_seconds``. Returns {split: manifest folder}."""
    from .data import prepare_demo_data
    from ..environment import CACHE_ENV, ensure_writable_dir
    ensure_writable_dir(cache, f"pass --cache DIR or set {CACHE_ENV} to a writable directory")
    ensure_writable_dir(out, "pass --out DIR with a writable directory")
    print(f"Preparing music ({'--audio ' + str(audio) if audio else 'Debian package fretsonfire-songs-sectoid'}) "
          f"in {cache}", flush=True)
    manifests = prepare_demo_data(Path(cache), SAMPLE_RATE, audio, min_held_out=held_out_seconds)
    check_held_out(manifests['evaluate'], held_out_seconds)
    return manifests


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
    planted = None
    if settings.planted_steps:
        print("\nPart 1 of 2: the MMD where it must act, on a point codec whose codebooks are dependent by "
              "construction (`audiocraft-mmd planted`, docs/PLANTED.md).", flush=True)
        planted = run_planted(out, PlantedSettings(steps=settings.planted_steps), weights=DEMO_PLANTED_WEIGHTS,
                              scales=PLANTED_SCALES, seeds=PLANTED_SEEDS, jobs=settings.jobs)
        print("\nPart 2 of 2: a working codec fine-tuned with and without the MMD on real music.", flush=True)
    start, start_text = resolve_start(settings, manifests, out)
    xps = demo_xps(manifests, start, settings)
    weights = ', '.join(f'{w:g}' for w in settings.weights)
    locate_xps(xps, out / 'dora')
    schedule = ''.join(f', {arg}' for arg in settings.mmd_argv(1.)[2:])  # mmd.num_batches, mmd.mode if given
    print(f"Fine-tuning {len(xps)} {settings.quantizer} codecs{reuse_text(xps)} from the {start_text}: MMD weights "
          f"{weights} (scale {settings.scale}, delay alignment{schedule}), seeds 0-{settings.seeds - 1}, "
          f"{xps[0].steps} steps each, {settings.jobs} at a time; XPs in {out / 'dora'}", flush=True)
    train_xps(xps, out / 'dora', settings.jobs)
    start_figures, runs = measure_split(start, xps, manifests, 'evaluate', settings, out)
    train_split = None
    if settings.measure_train:
        train_start, train_runs = measure_split(start, xps, manifests, 'train', settings, out)
        train_split = {'start_codec': train_start, 'runs': train_runs,
                       'summary': {label: {k: v.to_dict() for k, v in summarize(r).items()}
                                   for label, r in train_runs.items()}}
    labels = list(runs)
    base_label = labels[0]
    sentences = [verdict(base_label, runs[base_label], label, runs[label]) for label in labels[1:]]
    if settings.sweep:
        sentences = [f"{label}: {sentence}" for label, sentence in zip(labels[1:], sentences)]
    first = runs[base_label][0]
    samples = first['dependence_samples']
    print(f"\nQuantizer {settings.quantizer}. Held-out track(s) of {manifests['evaluate']}: {first['num_clips']} segments of {first['clip_seconds']:g} s; "
          f"{settings.seeds} seed(s) per codec, mean ± 95 % interval; dependence over {samples['delay']:,} "
          f"delay-aligned and {samples['parallel']:,} parallel samples for every codec, MMD over "
          f"{first['mmd_samples']:,} samples.")
    print(format_table(runs, start_figures))
    print('\nWorking-codec checks (SI-SNR >= 0 dB, code ablation gap >= 10 dB, every codebook entropy >= half of '
          'log2(bins)), every seed:')
    for label, members in {'start': [{**start_figures, 'seed': '-'}], **runs}.items():
        failures = failed_checks(members)
        print(f"  {label}: {'all passed' if not failures else '; '.join(failures)}")
    if train_split is not None:
        first = train_split['runs'][base_label][0]
        print(f"\nThe same codecs on the train split {manifests['train']} (where the paper measures): "
              f"{first['num_clips']} segments, dependence over {first['dependence_samples']['delay']:,} delay-aligned "
              "samples.")
        print(format_table(train_split['runs'], train_split['start_codec']))
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
    plot = plot_sweep(runs, xps, out / f'{name}.png') if settings.sweep else plot_results(runs, out / f'{name}.png')
    print(f"Wrote {out / f'{name}.json'} and {plot}")
    print(f"Train on the same data yourself: uv run dora -P audiocraft_mmd run {SOLVER} "
          + ' '.join([*(f'datasource.{split}={path}' for split, path in manifests.items()),
                      f'continue_from={start}', *settings.quantizer_argv]))
    if planted is not None:
        print(f"\nWhat the demo shows.\n1. {planted.summary()}\n2. Real music: " + ' '.join(sentences))
    return report
