"""`audiocraft-mmd lm-gap`: train a delay and a flatten LM of equal size and budget on the tokens of each
tokenizer, and compare their held-out NLL (the paper's Table 2 argument, measured by likelihood).

Tokenizers (default): the demo's baseline, an EnCodec-MMD matched to the parallel pattern and one matched
to the delay pattern, fine-tuned from the same start codec with the same data and codec seed. Each LM is
a `solver=musicgen/mmd_debug` XP run through the plugin's Dora main (the same runs scale to
`solver=musicgen/mmd`); finished XPs, codec measurements and held-out tokens are reused.
"""
import json
import typing as tp
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from audiocraft.models.encodec import CompressionModel

from ..errors import ConfigurationError
from ..experiments.cache import cached_figures
from ..experiments.measure import failed_checks, measure
from ..experiments.music import prepare_music
from ..experiments.options import shared_problems
from ..experiments.recipes import LM_SOLVER, START_STEPS, codec_xp, lm_xp
from ..experiments.runner import train_xps
from ..experiments.seeds import seed_bars, seed_intervals
from ..experiments.start import resolve_start, start_problems
from ..experiments.table import text_table
from ..experiments.xp import XP, locate_xps, reuse_text
from ..lm_patterns import LM_PATTERNS
from ..processes import default_jobs
from ..stats import Interval, mean_interval
from .page import AudioClip, PageSection, PageTable, write_listening_page

TOKENIZERS = ('baseline', 'MMD-parallel', 'MMD-delay')
LM_GAP_SEEDS = 3
CODEC_STEPS = 200
LM_STEPS = 400
GENERATE_SECONDS = 4.
CODEC_SEGMENT_SECONDS = 5.  # the tokenizers' working-codec checks, on the held-out song cut as the demo does


@dataclass
class LMGapSettings:
    """What `audiocraft-mmd lm-gap` trains and measures (see its --help)."""
    seeds: int = LM_GAP_SEEDS
    codec_steps: int = CODEC_STEPS
    lm_steps: int = LM_STEPS
    codec_seed: int = 0
    weight: float = 1e3
    num_batches: tp.Optional[int] = None  # mmd.num_batches of the MMD tokenizers (None: the solver's)
    generate_seconds: float = GENERATE_SECONDS
    max_segments: tp.Optional[int] = None
    start: str = 'shipped'
    jobs: int = field(default_factory=default_jobs)
    quantizer: str = 'rvq'
    start_steps: int = START_STEPS

    @property
    def output_suffix(self) -> str:
        """'' for the RVQ, else ``-QUANTIZER``: ends the names of the json, the plot, the page and the audio
        folder, so runs of several quantizers in one ``--out`` keep their own reports."""
        return '' if self.quantizer == 'rvq' else f'-{self.quantizer}'

    def validate(self) -> None:
        problems = [f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                    for name in ('codec_steps', 'lm_steps') if getattr(self, name) < 1]
        problems += shared_problems(self.seeds, self.weight, self.num_batches, self.max_segments, self.jobs)
        if not self.generate_seconds > 0:
            problems.append(f"--generate-seconds must be > 0, got {self.generate_seconds:g}")
        problems += start_problems(self.start, self.start_steps, self.quantizer)
        if problems:
            raise ConfigurationError('; '.join(problems) + '.')


def tokenizer_xps(manifests: tp.Dict[str, Path], start: str, settings: LMGapSettings) -> tp.Dict[str, XP]:
    """{tokenizer: codec XP}: the baseline and the EnCodec-MMD matched to the parallel and to the delay pattern, at
    ``codec_seed``. A demo run with the same ``--quantizer``, ``--start`` and ``--start-steps`` trained the baseline
    and MMD-delay (the same `recipes.codec_xp` at the demo's scale): they are reused."""
    def codec(label: str, weight: float, alignment: str) -> XP:
        return codec_xp(label, manifests, start, settings.codec_steps, weight, settings.codec_seed,
                        alignment=alignment, quantizer=settings.quantizer, num_batches=settings.num_batches)

    return {'baseline': codec('baseline', 0., 'delay'),
            'MMD-parallel': codec('MMD-parallel', settings.weight, 'parallel'),
            'MMD-delay': codec('MMD-delay', settings.weight, 'delay')}


def lm_xps(codecs: tp.Dict[str, XP], manifests: tp.Dict[str, Path],
           settings: LMGapSettings) -> tp.Dict[tp.Tuple[str, str, int], XP]:
    """{(tokenizer, pattern, seed): LM XP}: the same LM size, steps, data and seeds for every pattern."""
    xps = {}
    for tokenizer, codec in codecs.items():
        assert codec.folder is not None
        for pattern in LM_PATTERNS:
            for seed in range(settings.seeds):
                xps[tokenizer, pattern, seed] = lm_xp(f'{tokenizer} {pattern}', codec.folder.name, manifests,
                                                      settings.lm_steps, pattern, seed)
    return xps


def measure_lm(lm_folder: Path, codec: CompressionModel, held_out: torch.Tensor, settings: LMGapSettings,
               wav_path: tp.Optional[Path], seed: int) -> dict:
    """Held-out NLL per position of one LM in its best state (the epoch of lowest valid cross-entropy, which
    AudioCraft's MusicGen solver keeps as ``best_state``) and one generation, stored beside its checkpoint in
    ``lm_gap_measurement.json`` + ``lm_gap_nll.pt``."""
    from .audio import write_wav
    from .measure import generate, token_nll_bits
    from ..models.musicgen import lm_from_package, read_lm_package
    cache, nll_file = lm_folder / 'lm_gap_measurement.json', lm_folder / 'lm_gap_nll.pt'
    checkpoint = lm_folder / 'checkpoint.th'
    key = {'checkpoint_mtime_ns': checkpoint.stat().st_mtime_ns, 'tokens': list(held_out.shape),
           'generate_seconds': settings.generate_seconds, 'seed': seed, 'wav': str(wav_path)}

    def compute() -> dict:
        _, package = read_lm_package(checkpoint)
        lm = lm_from_package(package)
        nll, mask = token_nll_bits(lm, held_out)
        generation = generate(lm, codec, settings.generate_seconds, seed)
        if wav_path is not None:
            write_wav(wav_path, generation.wav, codec.sample_rate)
        torch.save({'nll': nll, 'mask': mask}, nll_file)
        return {'steps': generation.steps, 'generation_seconds': generation.seconds,
                'seconds_per_audio_second': generation.seconds_per_audio_second,
                'params': sum(p.numel() for p in lm.parameters())}

    companions = [nll_file, *([wav_path] if wav_path is not None else [])]
    return {**cached_figures(cache, key, compute, companions), **torch.load(nll_file)}


def gap_figures(delay: dict, flatten: dict) -> dict:
    """Bits per frame of each pattern and their gap, over the positions both patterns predict."""
    from .measure import bits_per_codebook
    mask = delay['mask'] & flatten['mask']
    per_codebook = {name: bits_per_codebook(run['nll'], mask) for name, run in (('delay', delay), ('flatten', flatten))}
    figures = {'delay_bits': sum(per_codebook['delay']), 'flatten_bits': sum(per_codebook['flatten']),
               'delay_bits_per_codebook': per_codebook['delay'], 'flatten_bits_per_codebook': per_codebook['flatten']}
    figures['gap_bits'] = figures['delay_bits'] - figures['flatten_bits']
    figures['gap_percent'] = 100 * figures['gap_bits'] / figures['flatten_bits']
    figures['gap_bits_per_codebook'] = [d - f for d, f in zip(per_codebook['delay'], per_codebook['flatten'])]
    for pattern, run in (('delay', delay), ('flatten', flatten)):
        figures.update({f'{pattern}_{key}': run[key] for key in ('best_step', 'steps', 'seconds_per_audio_second')})
    return {**figures, 'params': delay['params'], 'positions': int(mask.sum())}


def with_marginals(figures: dict, marginal_bits: float) -> dict:
    """``figures`` with the NLL of the codebook marginals and how far below it each LM is (bits per frame)."""
    return {**figures, 'marginal_bits': marginal_bits, 'delay_gain_bits': marginal_bits - figures['delay_bits'],
            'flatten_gain_bits': marginal_bits - figures['flatten_bits']}


ROWS = [  # (key, label, format)
    ('marginal_bits', 'NLL of the codebook marginals (bits/frame)', '.3f'),
    ('delay_bits', 'NLL delay (bits/frame)', '.3f'),
    ('flatten_bits', 'NLL flatten (bits/frame)', '.3f'),
    ('delay_gain_bits', 'delay LM below the marginals (bits/frame)', '.3f'),
    ('flatten_gain_bits', 'flatten LM below the marginals (bits/frame)', '.3f'),
    ('gap_bits', 'gap delay - flatten (bits/frame)', '.3f'),
    ('gap_percent', 'gap (% of flatten)', '.2f'),
    ('delay_best_step', 'training step of the best state, delay', '.0f'),
    ('flatten_best_step', 'training step of the best state, flatten', '.0f'),
    ('delay_steps', 'LM steps, delay', '.0f'),
    ('flatten_steps', 'LM steps, flatten', '.0f'),
    ('delay_seconds_per_audio_second', 'generation s per s of audio, delay', '.2f'),
    ('flatten_seconds_per_audio_second', 'generation s per s of audio, flatten', '.2f'),
]


def summarize(runs: tp.Dict[str, tp.List[dict]]) -> tp.Dict[str, tp.Dict[str, Interval]]:
    """{tokenizer: {figure: mean and 95 % interval over LM seeds}}, per-codebook gaps as ``gap_bits_q{k}``."""
    summary = {}
    for tokenizer, seeds in runs.items():
        figures = seed_intervals(seeds, [key for key, _, _ in ROWS])
        for k in range(len(seeds[0]['gap_bits_per_codebook'])):
            figures[f'gap_bits_q{k + 1}'] = mean_interval([run['gap_bits_per_codebook'][k] for run in seeds])
        summary[tokenizer] = figures
    return summary


def table_rows(summary: tp.Dict[str, tp.Dict[str, Interval]]) -> tp.List[tp.List[str]]:
    """[label, mean ± half-interval per tokenizer] for every figure, per-codebook gaps last."""
    first = next(iter(summary.values()))
    codebooks = sorted(key for key in first if key.startswith('gap_bits_q'))
    rows = [*ROWS, *((key, f'gap, codebook {key[len("gap_bits_q"):]} (bits)', '.3f') for key in codebooks)]
    return [[label, *(figures[key].format(spec) for figures in summary.values())] for key, label, spec in rows]


def format_table(summary: tp.Dict[str, tp.Dict[str, Interval]]) -> str:
    rows = table_rows(summary)
    return text_table([['', *summary], *rows], [max(len(row[0]) for row in rows) + 2, *[22] * len(summary)])


def untrained_lms(runs: tp.Dict[str, tp.List[dict]]) -> tp.List[str]:
    """The LMs whose held-out NLL is not below the codebook marginals' (they learned no more than the
    marginals), with their numbers: a gap between such LMs says how far each is from converged, not what
    parallel prediction loses."""
    return [f"{tokenizer} {pattern} seed {run['seed']} {run[f'{pattern}_bits']:.3f} >= {run['marginal_bits']:.3f}"
            for tokenizer, seeds in runs.items() for run in seeds for pattern in ('delay', 'flatten')
            if not run[f'{pattern}_bits'] < run['marginal_bits']]


def prediction(summary: tp.Dict[str, tp.Dict[str, Interval]], untrained: tp.Sequence[str] = (),
               broken: tp.Sequence[str] = ()) -> str:
    """The paper's prediction, gap(MMD-delay) < gap(MMD-parallel) <= gap(baseline), against the numbers: what
    the means say, whether the 95 % intervals separate them, and first whether every tokenizer is a working codec
    (``broken``: those that fail the demo's checks, with the failures) and every LM learned more than the
    codebook marginals (``untrained``: those that did not, from `untrained_lms`)."""
    gaps = {name: figures['gap_bits'] for name, figures in summary.items()}
    if not all(name in gaps for name in TOKENIZERS):
        return "The prediction compares baseline, MMD-parallel and MMD-delay; not all three were measured."
    text = ', '.join(f"{name} {gaps[name].format('.3f')}" for name in TOKENIZERS)
    if broken:
        return (f"No verdict: {len(broken)} tokenizer(s) fail the working-codec checks ({'; '.join(broken)}), and a "
                f"comparison is evidence only between working codecs; train a better start codec (--start-steps). "
                f"Measured gap (bits/frame): {text}.")
    if untrained:
        return (f"No verdict: {len(untrained)} LM(s) do not beat the NLL of the codebook marginals (bits/frame: "
                f"{'; '.join(untrained)}), so the gap measures how far each LM is from converged, not what parallel "
                f"prediction loses; train longer (--lm-steps). Measured gap (bits/frame): {text}.")
    if any(gaps[name].n < 2 for name in TOKENIZERS):
        return f"One LM seed gives no interval (use --seeds 3 or more); gap (bits/frame) {text}."
    order = gaps['MMD-delay'].mean < gaps['MMD-parallel'].mean <= gaps['baseline'].mean
    separated = gaps['MMD-delay'].high < gaps['MMD-parallel'].low and gaps['MMD-parallel'].high <= gaps['baseline'].low
    negative = ("" if not all(gaps[name].high < 0 for name in TOKENIZERS) else
                " Every gap is negative: the delay LMs predict the held-out tokens better than flatten LMs of the same "
                "size and steps, so at this budget the gap shows how fast each pattern learns, not the dependence the "
                "delay pattern leaves out.")
    if order and separated:
        return f"The prediction holds: gap (bits/frame) {text}, with 95 % intervals that do not overlap."
    if order:
        return (f"The means follow the prediction but the 95 % intervals overlap, so this run does not show it: "
                f"gap (bits/frame) {text}.{negative}")
    return f"The prediction does not show: gap (bits/frame) {text}.{negative}"


def plot_gap(runs: tp.Dict[str, tp.List[dict]], path: Path, quantizer: str = 'rvq') -> Path:
    """Per tokenizer (mean, 95 % interval, each seed a dot): how far each LM's NLL is below the codebook
    marginals', and the gap delay - flatten, in bits per frame (the paper's Table 2 by likelihood)."""
    from ..plotting import pyplot, save_figure
    fig, axes = pyplot().subplots(1, 3, figsize=(13, 3.8))
    names = list(runs)
    for ax, (key, title) in zip(axes, [('delay_gain_bits', 'delay LM, below the marginals'),
                                       ('flatten_gain_bits', 'flatten LM, below the marginals'),
                                       ('gap_bits', 'gap delay - flatten')]):
        seed_bars(ax, {name: [run[key] for run in runs[name]] for name in names}, ['#8c8c8c', '#ff7f0e', '#1f77b4'])
        ax.axhline(0, color='k', linewidth=0.6)
        ax.set_title(f"{title} (bits/frame)", fontsize=9)
    fig.suptitle(f'audiocraft-mmd lm-gap ({quantizer} tokenizers): held-out NLL, mean and 95 % interval over LM '
                 'seeds', fontsize=10)
    return save_figure(fig, path)


class TokenizerResult(tp.NamedTuple):
    """What `measure_tokenizer` finds for one tokenizer: its codec figures and failed working-codec checks, one
    row per LM seed (`gap_figures` with the marginals, the LMs' sigs) and its section of report.html."""
    figures: dict
    failures: tp.List[str]
    runs: tp.List[dict]
    section: PageSection


def train_tokenizers_and_lms(out: Path, manifests: tp.Mapping[str, Path], start: str, start_text: str,
                             settings: LMGapSettings) -> tp.Tuple[tp.Dict[str, XP], tp.Dict[tp.Tuple[str, str, int], XP]]:
    """Train (or reuse) the tokenizers, then their LMs, in ``out/dora``; returns both, located."""
    codecs = tokenizer_xps(manifests, start, settings)
    locate_xps(list(codecs.values()), out / 'dora')
    print(f"Tokenizers {', '.join(codecs)} ({settings.quantizer}){reuse_text(list(codecs.values()))}: fine-tuned "
          f"from the {start_text}, {settings.codec_steps} steps, codec seed {settings.codec_seed}, MMD weight "
          f"{settings.weight:g}{'' if settings.num_batches is None else f', mmd.num_batches={settings.num_batches}'}; "
          f"XPs in {out / 'dora'}", flush=True)
    train_xps(list(codecs.values()), out / 'dora', settings.jobs)
    lms = lm_xps(codecs, manifests, settings)
    locate_xps(list(lms.values()), out / 'dora')
    print(f"LMs{reuse_text(list(lms.values()))}: delay and flatten ({LM_SOLVER}) on each tokenizer, seeds "
          f"0-{settings.seeds - 1}, {next(iter(lms.values())).steps} steps each, {settings.jobs} at a time", flush=True)
    train_xps(list(lms.values()), out / 'dora', settings.jobs)
    return codecs, lms


def held_out_tokens(codec: CompressionModel, tokenizer_xp: XP, manifest: Path, seconds: float,
                    max_segments: tp.Optional[int]) -> torch.Tensor:
    """The held-out segments of ``seconds`` encoded by ``codec`` (`measure.encode_segments`), cached in its XP."""
    from .measure import encode_segments
    assert tokenizer_xp.folder is not None
    tokens_file = tokenizer_xp.folder / f'lm_gap_tokens_{seconds:g}s_{max_segments}.pt'
    if tokens_file.is_file():
        return torch.load(tokens_file)
    held_out = encode_segments(codec, manifest, seconds, max_segments)
    torch.save(held_out, tokens_file)
    return held_out


def measure_tokenizer(tokenizer: str, tokenizer_xp: XP, lms: tp.Mapping[tp.Tuple[str, str, int], XP],
                      manifests: tp.Mapping[str, Path], settings: LMGapSettings, audio_dir: Path,
                      lm_duration: float, write_original: bool) -> TokenizerResult:
    """Measure one tokenizer (its working-codec checks) and its LMs on the held-out song cut in segments of
    ``lm_duration`` s, and write its wav files (with ``write_original``, the held-out original's too: the same
    for every tokenizer)."""
    from .audio import write_wav
    from .measure import marginal_bits_per_codebook
    from ..models.compression import load_codec
    assert tokenizer_xp.folder is not None
    codec_file = tokenizer_xp.folder / 'checkpoint.th'
    figures = measure(codec_file, manifests['evaluate'], CODEC_SEGMENT_SECONDS, desc=f'measuring {tokenizer}',
                      cache=tokenizer_xp.folder / 'demo_measurement.json')
    failures = failed_checks([{**figures, 'seed': settings.codec_seed}])
    codec, _ = load_codec(codec_file)
    mine = {(pattern, seed): xp for (name, pattern, seed), xp in lms.items() if name == tokenizer}
    held_out = held_out_tokens(codec, tokenizer_xp, manifests['evaluate'], lm_duration, settings.max_segments)
    measured = {}
    for (pattern, seed), xp in mine.items():
        assert xp.folder is not None
        wav = audio_dir / f'{tokenizer}-{pattern}-lm.wav' if seed == 0 else None
        measured[pattern, seed] = {**measure_lm(xp.folder, codec, held_out, settings, wav, seed),
                                   'best_step': xp.best_step()}
    marginal = sum(marginal_bits_per_codebook(held_out))
    runs = [{**with_marginals(gap_figures(measured[('delay', seed)], measured[('flatten', seed)]), marginal),
             'seed': seed, 'delay_sig': mine['delay', seed].folder.name, 'flatten_sig': mine['flatten', seed].folder.name}
            for seed in range(settings.seeds)]
    original, reconstruction = _held_out_clip(codec, manifests['evaluate'], settings.generate_seconds)
    if write_original:
        write_wav(audio_dir / 'held-out-original.wav', original, codec.sample_rate)
    clips = [AudioClip('held-out original', audio_dir / 'held-out-original.wav'),
             AudioClip(f'{tokenizer} reconstruction', write_wav(audio_dir / f'{tokenizer}-reconstruction.wav',
                                                                reconstruction, codec.sample_rate)),
             *(AudioClip(f'{pattern} LM, seed 0', audio_dir / f'{tokenizer}-{pattern}-lm.wav')
               for pattern in LM_PATTERNS)]
    section = PageSection(tokenizer, f"codec XP {tokenizer_xp.folder.name}; SI-SNR {figures['sisnr_db']:.2f} dB, code "
                                     f"ablation gap {figures['code_ablation_gap_db']:.1f} dB; working-codec checks: "
                                     f"{'; '.join(failures) or 'all passed'}", clips)
    return TokenizerResult(figures, failures, runs, section)


def print_tokenizer_checks(results: tp.Mapping[str, TokenizerResult]) -> None:
    """One line per tokenizer: SI-SNR, code ablation gap, delay-aligned I and its working-codec checks."""
    print('\nTokenizers (working-codec checks on the held-out song, 5 s segments):')
    for tokenizer, result in results.items():
        figures = result.figures
        print(f"  {tokenizer}: SI-SNR {figures['sisnr_db']:.2f} dB, code ablation gap "
              f"{figures['code_ablation_gap_db']:.1f} dB, delay-aligned I {figures['tc_percent_delay']:.3f} %: "
              f"{'all checks passed' if not result.failures else '; '.join(result.failures)}")


def run_lm_gap(out: Path, cache: Path, audio: tp.Optional[Path] = None,
               settings: tp.Optional[LMGapSettings] = None, command: tp.Optional[str] = None) -> dict:
    """Train the tokenizers and their LMs, measure, print the table and the prediction, write ``lm_gap.json``
    (with ``command``, the command line that ran it, for the results document),
    ``lm_gap.png``, the wav files (``audio/``) and ``report.html`` in ``out`` (with ``-QUANTIZER`` before the
    extension for a ``--quantizer`` other than rvq)."""
    settings = settings or LMGapSettings()
    settings.validate()
    out = Path(out)
    manifests = prepare_music(out, cache, audio, max(settings.generate_seconds, CODEC_SEGMENT_SECONDS))
    start, start_text = resolve_start(settings.start, settings.start_steps, settings.quantizer, manifests, out)
    codecs, lms = train_tokenizers_and_lms(out, manifests, start, start_text, settings)
    torch.set_num_threads(1)  # generation times with one thread, as each training job had
    suffix = settings.output_suffix
    from ..train import main
    first_lm = next(iter(lms.values()))  # every LM has the same steps and training crop
    # the held-out NLL is measured on segments of the LMs' training crop length
    lm_duration = float(main.get_xp(first_lm.argv).cfg.dataset.train.segment_duration)
    results = {tokenizer: measure_tokenizer(tokenizer, xp, lms, manifests, settings, out / f'audio{suffix}',
                                            lm_duration, write_original=index == 0)
               for index, (tokenizer, xp) in enumerate(codecs.items())}
    runs = {tokenizer: result.runs for tokenizer, result in results.items()}

    summary = summarize(runs)
    first = runs[TOKENIZERS[0]][0]
    header = (f"Held-out track(s) of {manifests['evaluate']}: segments of {lm_duration:g} s (the LMs' training "
              f"length), {first['positions']:,} positions predicted by both patterns per LM; LMs of "
              f"{first['params']:,} parameters, {first_lm.steps} steps; mean ± 95 % interval over {settings.seeds} "
              f"LM seed(s); generation of {settings.generate_seconds:g} s.")
    table = format_table(summary)
    broken = [f"{tokenizer}: {'; '.join(result.failures)}" for tokenizer, result in results.items() if result.failures]
    verdict = prediction(summary, untrained_lms(runs), broken)
    print('\n' + header)
    print(table)
    print_tokenizer_checks(results)
    print('\n' + verdict)
    report = {'command': command, 'settings': asdict(settings), 'start': start_text,
              'data': {k: str(v) for k, v in manifests.items()}, 'segment_seconds': lm_duration, 'prediction': verdict,
              'codecs': {tokenizer: result.figures for tokenizer, result in results.items()},
              'codec_sigs': {name: xp.folder.name for name, xp in codecs.items() if xp.folder is not None},
              'runs': runs, 'summary': {name: {k: v.to_dict() for k, v in s.items()} for name, s in summary.items()}}
    report_file = out / f'lm_gap{suffix}.json'
    report_file.write_text(json.dumps(report, indent=2))
    plot = plot_gap(runs, out / f'lm_gap{suffix}.png', settings.quantizer)
    page_table = PageTable(header, ['', *summary], table_rows(summary))
    page = write_listening_page(out / f'report{suffix}.html', f'audiocraft-mmd lm-gap ({settings.quantizer})', verdict,
                                [page_table], [plot], sections=[result.section for result in results.values()])
    print(f"Wrote {report_file}, {plot} and {page}")
    return report


@torch.no_grad()
def _held_out_clip(codec, manifest: Path, seconds: float) -> tp.Tuple[torch.Tensor, torch.Tensor]:
    """The first ``seconds`` of the held-out audio [C, L] and its reconstruction through ``codec``."""
    from ..metrics.codec import iter_segments
    segment = next(iter_segments(manifest, codec.sample_rate, codec.channels, seconds, 1))
    codes, scale = codec.encode(segment[None])
    return segment, codec.decode(codes, scale)[0]
