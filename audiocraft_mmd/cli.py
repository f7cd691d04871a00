"""The ``audiocraft-mmd`` command line."""
import argparse
import shlex
import sys
import typing as tp
from pathlib import Path


def _setup(args: argparse.Namespace) -> int:
    from .environment import audiocraft_config_dir, audiocraft_version
    path = audiocraft_config_dir()
    print(f"audiocraft {audiocraft_version()} config tree: {path}")
    return 0


def _manifest(args: argparse.Namespace) -> int:
    from .data import write_manifest
    path = write_manifest(Path(args.audio_dir), Path(args.out_dir))
    print(f"Wrote {path}: use datasource.<split>={path.parent}")
    return 0


def _pattern_option(args: argparse.Namespace) -> tp.Optional[tp.Dict[str, tp.Any]]:
    """``--pattern NAME --pattern-args JSON`` as a codebooks pattern config, or None."""
    import json
    from .errors import ConfigurationError
    if args.pattern is None:
        if args.pattern_args is not None:
            raise ConfigurationError("--pattern-args needs --pattern NAME.")
        return None
    if args.alignment != 'pattern':
        raise ConfigurationError(f"--pattern {args.pattern} is read with --alignment pattern, got --alignment "
                                 f"{args.alignment}.")
    try:
        kwargs = json.loads(args.pattern_args) if args.pattern_args else {}
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"--pattern-args {args.pattern_args!r} is not JSON ({exc.msg}); e.g. "
                                 "'{\"delays\": [0, 1, 1]}'.") from None
    if not isinstance(kwargs, dict):
        raise ConfigurationError(f"--pattern-args must be a JSON object, got {args.pattern_args!r}.")
    return {'modeling': args.pattern, args.pattern: kwargs}


def _dependence(args: argparse.Namespace) -> int:
    import json
    from .metrics.codec import format_measurement, measure_codec
    from .metrics.plots import plot_dependence
    from .models.compression import load_codec
    alignments = ('parallel', 'delay') if args.alignment == 'both' else (args.alignment,)
    from .alignment import PATTERNS
    from .errors import ConfigurationError
    pattern = _pattern_option(args)
    model, cfg = load_codec(args.model, device=args.device)
    if args.alignment == 'pattern' and pattern is None and (cfg is None or cfg.get('mmd', {}).get('alignment') != 'pattern'):
        raise ConfigurationError("--alignment pattern needs --pattern NAME (one of "
                                 f"{', '.join(PATTERNS)}), unless the codec's XP trained with mmd.alignment=pattern.")
    measured = measure_codec(
        model, args.manifest, cfg, segment_duration=args.segment_duration, max_segments=args.segments,
        batch_size=args.batch_size, macro_clips=args.macro_clips, seed=args.seed, alignments=alignments,
        pattern=pattern, desc='encoding', correction=args.correction, permutations=args.permutations)
    print(f"{args.model}: {measured.num_clips} segments of {args.segment_duration:g} s from {args.manifest}")
    for alignment, result in measured.dependence.items():
        print(f"\n[{alignment} alignment]\n{result.format_table()}")
    print(f"\n[codec]\n{format_measurement(measured)}")
    if args.out:
        report = {'model': str(args.model), 'manifest': str(args.manifest), 'segment_duration': args.segment_duration,
                  **measured.to_dict()}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2))
        print(f"\nWrote {args.out}")
    if args.plot:
        print(f"Wrote {plot_dependence(measured.dependence, args.plot, title=str(args.model))}")
    return 0


def _report(args: argparse.Namespace) -> int:
    import json
    from . import report
    from .errors import ConfigurationError
    if args.markdown:
        from .results import write_results
        if args.targets:
            raise ConfigurationError("report --markdown reads the reports under --results, not XPs: drop "
                                     f"{' '.join(args.targets)}.")
        if not Path(args.results).is_dir():
            raise ConfigurationError(f"--results {args.results} is not a folder (the report JSONs, e.g. docs/results).")
        print(f"Wrote {write_results(Path(args.markdown), Path(args.results))}")
        return 0
    if not args.targets:
        raise ConfigurationError("report needs a grid name or XP signatures (or --markdown PATH).")
    rows = [report.xp_row(xp) for xp in report.resolve_xps(args.targets)]
    if not rows:
        print("error: no XP found for " + ' '.join(args.targets), file=sys.stderr)
        return 1
    rows.sort(key=lambda r: (r.alignment, r.kernel, r.weight))
    print(report.format_rows(rows))
    if args.out:
        Path(args.out).write_text(json.dumps(report.rows_to_dicts(rows), indent=2))
        print(f"Wrote {args.out}")
    if args.plot:
        print(f"Wrote {report.plot_rows(rows, args.plot)}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .export import export_musicgen
    result = export_musicgen(args.lm, Path(args.out_dir), compression=args.compression, overwrite=args.force)
    print(f"Wrote {result.lm_file} (LM, {result.lm_params / 1e6:.2f} M parameters) and {result.compression_file} "
          f"(tokenizer {result.tokenizer}).\nLoad with audiocraft.models.MusicGen.get_pretrained('{result.out_dir}') "
          f"or audiocraft_mmd.models.MusicGenMMD.get_pretrained('{result.out_dir}').")
    return 0


def _slurm_local(args: argparse.Namespace) -> int:
    import subprocess
    from .environment import cache_dir
    from .errors import ConfigurationError
    from .slurm import LocalSlurm, SlurmUnavailable
    from .slurm.local import install_command, missing_slurm_programs
    slurm = LocalSlurm(Path(args.dir) if args.dir else cache_dir() / 'slurm-local', port=args.port)
    if args.action == 'down':
        stopped = slurm.down()
        print(f"stopped {', '.join(stopped)}" if stopped else f"no daemon of {slurm.root} was running")
        return 0
    if args.action == 'status':
        daemons = slurm.daemons()
        state = slurm.node_state() if 'slurmctld' in daemons else ''
        print(f"{slurm.root}: " + (f"{', '.join(f'{n} (PID {p})' for n, p in daemons.items())}; node {state or '?'}; "
                                   f"jobs pending or running: {len(slurm.jobs())}" if daemons else "not running"))
        return 0
    if args.install and missing_slurm_programs():
        print(f"$ {install_command()}")
        subprocess.run(install_command().split(), check=True, stdout=subprocess.DEVNULL)
    try:
        slurm.up()
    except SlurmUnavailable as exc:
        raise ConfigurationError(str(exc)) from None
    print(f"one-node Slurm up in {slurm.root} (partition debug; {', '.join(slurm.daemons())}). In your shell:")
    print(slurm.exports())
    return 0


def _lm_gap(args: argparse.Namespace) -> int:
    from .environment import cache_dir
    from .lm_gap.run import LMGapSettings, run_lm_gap
    settings = LMGapSettings(seeds=args.seeds, codec_steps=args.codec_steps, lm_steps=args.lm_steps,
                             weight=args.weight, num_batches=args.num_batches, generate_seconds=args.generate_seconds,
                             max_segments=args.segments,
                             start=args.start, quantizer=args.quantizer, start_steps=args.start_steps,
                             **({'jobs': args.jobs} if args.jobs is not None else {}))
    run_lm_gap(out=Path(args.out), cache=Path(args.cache) if args.cache else cache_dir() / 'demo-data',
               audio=Path(args.audio) if args.audio else None, settings=settings, command=args.command_line)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo.run import DemoSettings, run_demo
    from .environment import cache_dir
    preset = 'long' if args.long else 'default'
    settings = DemoSettings.from_preset(
        preset, steps=args.steps, seeds=args.seeds, weight=args.weight, scale=args.scale, sweep=args.sweep,
        start=args.start, segment_duration=args.segment_duration, max_segments=args.segments, quantizer=args.quantizer,
        start_steps=args.start_steps, planted_steps=args.planted_steps, num_batches=args.num_batches, mode=args.mode,
        measure_train=args.measure_train or None, jobs=args.jobs)
    run_demo(out=Path(args.out), cache=Path(args.cache) if args.cache else cache_dir() / 'demo-data',
             audio=Path(args.audio) if args.audio else None, settings=settings, command=args.command_line,
             preset=preset)
    return 0


def _planted_settings(args: argparse.Namespace):
    """The `PlantedSettings` of ``--steps``, ``--quantizer``, ``--mode`` and ``--num-batches``."""
    from .planted.codec import PlantedSettings
    from .planted.run import with_overrides
    return with_overrides(PlantedSettings(), steps=args.steps, quantizer=args.quantizer, mode=args.mode,
                          num_batches=args.num_batches)


def _planted(args: argparse.Namespace) -> int:
    from .planted.run import run_planted
    from .processes import default_jobs
    run_planted(Path(args.out), _planted_settings(args), weights=args.weights, scales=args.scales, seeds=args.seeds,
                jobs=default_jobs() if args.jobs is None else args.jobs)
    return 0


def _float_list(text: str) -> tp.List[float]:
    try:
        return [float(v) for v in text.split(',') if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, e.g. 100,1000; got {text!r}") from None


def _add_codec_options(command: argparse.ArgumentParser) -> None:
    """The options `demo` and `lm-gap` share: the start codec, the quantizer, the jobs and the music's segments."""
    from .experiments.recipes import QUANTIZERS, START_STEPS
    from .experiments.xp import UPDATES_PER_EPOCH
    command.add_argument('--start', default='shipped',
                         help="the codec every codec is fine-tuned from: 'shipped' (default, trained on the demo "
                              "music), 'train' (train it on the given music first, ~20 min on one core) or a "
                              "compression model (//sig/SIG, a checkpoint or an exported file)")
    command.add_argument('--start-steps', type=int, default=START_STEPS,
                         help=f"with --start train: steps of the start codec, a multiple of {UPDATES_PER_EPOCH} "
                              f"(default {START_STEPS}, the shipped codec's)")
    command.add_argument('--quantizer', choices=list(QUANTIZERS), default='rvq',
                         help="EnCodec's quantizer (paper Table 4): rvq (default), pvq (product quantizer) or "
                              "pvq-dropout (PVQ with hierarchical dropout); pvq* need --start train or a pvq start "
                              "codec, and their outputs carry the quantizer in their names")
    command.add_argument('--jobs', type=int, default=None, help="XPs trained at a time (default: 2, or 1 on one core)")
    command.add_argument('--cache', help="where the prepared music is cached (default "
                                         "~/.cache/audiocraft-mmd/demo-data)")
    command.add_argument('--segments', type=int, default=None, help="at most this many held-out segments")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose invalid choices name the nearest valid one (`audiocraft_mmd.errors.choice_problem`)."""

    def _check_value(self, action: argparse.Action, value: tp.Any) -> None:
        from .errors import choice_problem
        if action.choices is None:
            return
        flag = max(action.option_strings, key=len) if action.option_strings else (action.metavar or action.dest.upper())
        problem = choice_problem(str(flag), value, action.choices, sep=' ')
        if problem is not None:
            raise argparse.ArgumentError(None, problem)


def build_parser() -> argparse.ArgumentParser:
    from .alignment import PATTERNS
    from .metrics.dependence import CORRECTIONS, DEFAULT_CORRECTION
    parser = _Parser(
        prog='audiocraft-mmd',
        description="Independence-promoting MMD loss for AudioCraft codecs (EnCodec-MMD). Training runs through "
                    "Dora: `dora -P audiocraft_mmd run solver=compression/encodec_mmd_debug ...`.")
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')
    from .demo.run import DEFAULT, DEMO_SCALE, PRESETS, SWEEP_WEIGHTS
    from .losses import SCALES
    from .losses import MODES
    demo = commands.add_parser(
        'demo', help="fine-tune a working tiny codec with and without the MMD on real music (CPU, minutes), over "
                     "several seeds, and compare them on held-out music")
    demo.add_argument('--audio', help="your own music: a folder of audio files, one track per file (>= 3 tracks); "
                                      "default: 4 rock songs fetched from Debian's fretsonfire-songs-sectoid")
    long = PRESETS['long']
    demo.add_argument('--long', action='store_true',
                      help=f"the regime search's best cell regardless of time (docs/RESULTS.md): weight {long.weight:g}, "
                           f"--num-batches {long.num_batches}, {long.seeds} seeds, --measure-train; expected duration "
                           f"{long.expected}; options given beside it replace the preset's")
    demo.add_argument('--steps', type=int, default=None,
                      help=f"fine-tuning steps of each codec (default {DEFAULT.steps})")
    demo.add_argument('--seeds', type=int, default=None,
                      help=f"seeds per codec; the interval needs >= 2 (default {DEFAULT.seeds})")
    demo.add_argument('--weight', type=float, default=None, help=f"MMD weight (default {DEFAULT.weight:g})")
    demo.add_argument('--scale', choices=SCALES, default=DEMO_SCALE,
                      help=f"mmd.scale of the MMD codec (default {DEMO_SCALE}; see docs/MMD.md)")
    demo.add_argument('--sweep', action='store_true',
                      help=f"train weights {', '.join(f'{w:g}' for w in SWEEP_WEIGHTS)} instead and plot the paper's "
                           "Fig. 2 with intervals")
    demo.add_argument('--out', default='demo', help="report-SCALE.json (report-QUANTIZER-SCALE.json), its figure and "
                                                  "the XPs go here (default ./demo)")
    demo.add_argument('--segment-duration', type=float, default=5., help="held-out segment length in s (default 5)")
    from .demo.run import PLANTED_STEPS
    demo.add_argument('--planted-steps', type=int, default=PLANTED_STEPS,
                      help=f"steps of each codec of the first part, planted dependence (default {PLANTED_STEPS}; "
                           "0 skips it)")
    demo.add_argument('--num-batches', type=int, default=None,
                      help="mmd.num_batches of the MMD codecs: batches per macro-batch, or spanned by the bank; 1: an "
                           "MMD update at every step (default: the solver's 4)")
    demo.add_argument('--mode', choices=MODES, default=None,
                      help="mmd.mode of the MMD codecs: macro_batch (default, the paper's) or bank (docs/MMD.md)")
    demo.add_argument('--measure-train', action='store_true',
                      help="also measure every codec on the train split (where the paper measures), beside the "
                           "held-out song")
    _add_codec_options(demo)
    demo.set_defaults(func=_demo)
    from .planted.codec import PlantedSettings, QUANTIZERS as POINT_QUANTIZERS
    from .planted.run import PLANTED_SCALES, PLANTED_SEEDS, PLANTED_WEIGHTS
    planted = commands.add_parser(
        'planted', help="the MMD where it must act: a point codec whose codebooks are dependent by construction, "
                        "trained with and without the MMD (weights x mmd.scale x seeds, ~2 min on 2 cores)")
    planted.add_argument('--weights', type=_float_list, default=list(PLANTED_WEIGHTS),
                         help=f"MMD weights besides the baseline's 0 (default {','.join(f'{w:g}' for w in PLANTED_WEIGHTS)})")
    planted.add_argument('--scales', type=lambda t: [v for v in t.split(',') if v], default=list(PLANTED_SCALES),
                         help=f"mmd.scale values, comma-separated (default {','.join(PLANTED_SCALES)})")
    planted.add_argument('--seeds', type=int, default=PLANTED_SEEDS, help=f"seeds per codec (default {PLANTED_SEEDS})")
    planted.add_argument('--steps', type=int, default=None,
                         help=f"training steps of each codec (default {PlantedSettings().steps})")
    planted.add_argument('--quantizer', choices=POINT_QUANTIZERS, default=None,
                         help="rvq (AudioCraft's, default) or pvq (the plugin's product quantizer)")
    planted.add_argument('--mode', choices=MODES, default=None,
                         help="mmd.mode: macro_batch (default, the paper's) or bank (see docs/MMD.md)")
    planted.add_argument('--num-batches', type=int, default=None,
                         help=f"mmd.num_batches: batches per macro-batch, or spanned by the bank (default "
                              f"{PlantedSettings().num_batches}: an MMD step at every step)")
    planted.add_argument('--jobs', type=int, default=None, help="runs at a time (default: 2, or 1 on one core)")
    planted.add_argument('--out', default='planted', help="planted-QUANTIZER.json, its figure and the runs go here "
                                                        "(default ./planted)")
    planted.set_defaults(func=_planted)
    slurm = commands.add_parser(
        'slurm-local', help="a one-node Slurm on this machine (root, Debian packages) to try `dora grid` on it")
    slurm.add_argument('action', choices=['up', 'down', 'status'])
    slurm.add_argument('--dir', help="its config, state, logs and sacct stand-in (default "
                                     "~/.cache/audiocraft-mmd/slurm-local)")
    slurm.add_argument('--port', type=int, default=6817, help="slurmctld's port; slurmd takes the next (default 6817)")
    slurm.add_argument('--install', action='store_true',
                       help="up: install the Debian packages slurmctld slurmd slurm-client munge first if missing")
    slurm.set_defaults(func=_slurm_local)
    from .lm_gap.run import CODEC_STEPS, GENERATE_SECONDS, LM_GAP_SEEDS, LM_STEPS, LMGapSettings
    lm_gap = commands.add_parser(
        'lm-gap', help="how much a delay (parallel) LM loses against a flatten (joint) LM on the tokens of the "
                       "baseline, MMD-parallel and MMD-delay codecs: held-out NLL, steps, generation; report.html")
    lm_gap.add_argument('--audio', help="your own music (a folder, >= 3 tracks); default: the demo's songs")
    lm_gap.add_argument('--seeds', type=int, default=LM_GAP_SEEDS, help=f"LM seeds per (tokenizer, pattern) "
                                                                         f"(default {LM_GAP_SEEDS})")
    lm_gap.add_argument('--codec-steps', type=int, default=CODEC_STEPS,
                        help=f"fine-tuning steps of each tokenizer from the start codec (default {CODEC_STEPS})")
    lm_gap.add_argument('--lm-steps', type=int, default=LM_STEPS, help=f"training steps of each LM (default {LM_STEPS})")
    lm_gap.add_argument('--weight', type=float, default=LMGapSettings.weight,
                        help=f"MMD weight (default {LMGapSettings.weight:g})")
    lm_gap.add_argument('--num-batches', type=int, default=None,
                        help="mmd.num_batches of the MMD tokenizers (default: the solver's 4); with --weight, the "
                             "demo's cell (`--weight 1e4` reuses the default demo's codecs)")
    lm_gap.add_argument('--generate-seconds', type=float, default=GENERATE_SECONDS,
                        help=f"seconds generated by each LM (default {GENERATE_SECONDS:g})")
    lm_gap.add_argument('--out', default='lm-gap', help="lm_gap.json, lm_gap.png, audio/, report.html and the XPs "
                                                      "(default ./lm-gap; --out of a demo run reuses its codecs)")
    _add_codec_options(lm_gap)
    lm_gap.set_defaults(func=_lm_gap)
    setup = commands.add_parser('setup', help="locate (or fetch once and cache) audiocraft's Hydra config tree")
    setup.set_defaults(func=_setup)
    manifest = commands.add_parser('manifest', help="write an AudioCraft manifest (data.jsonl) for a folder of audio")
    manifest.add_argument('audio_dir', help="folder of audio files (searched recursively)")
    manifest.add_argument('out_dir', help="folder to write data.jsonl into; pass it as datasource.<split>=OUT_DIR")
    manifest.set_defaults(func=_manifest)

    dependence = commands.add_parser(
        'dependence', help="measure how dependent a codec's codebooks are on a dataset (total correlation I)")
    dependence.add_argument('--model', required=True,
                            help="//sig/SIG, //pretrained/NAME, a compression checkpoint.th or an exported file")
    dependence.add_argument('--manifest', required=True, help="AudioCraft manifest folder (data.jsonl)")
    dependence.add_argument('--alignment', choices=['parallel', 'delay', 'pattern', 'both'], default='both',
                            help="delay: the tuples MusicGen's delay pattern predicts together; pattern: the codes "
                                 "--pattern predicts in one step (default: both = parallel and delay)")
    dependence.add_argument('--pattern', choices=PATTERNS, default=None,
                            help="with --alignment pattern: the LM's codebooks pattern (codebooks_pattern.modeling; "
                                 "default: the XP's mmd.pattern)")
    dependence.add_argument('--pattern-args', default=None, metavar='JSON',
                            help="the pattern's arguments as in codebooks_pattern.<NAME>, e.g. '{\"delays\": [0, 1, 1]}'")
    dependence.add_argument('--segments', type=int, default=None, help="at most this many segments (default: all)")
    dependence.add_argument('--segment-duration', type=float, default=10., help="seconds per segment (default 10)")
    dependence.add_argument('--batch-size', type=int, default=8)
    dependence.add_argument('--macro-clips', type=int, default=32, help="segments per MMD estimate (default 32)")
    dependence.add_argument('--device', default='cpu')
    dependence.add_argument('--correction', choices=CORRECTIONS, default=DEFAULT_CORRECTION,
                            help=f"bias correction (default {DEFAULT_CORRECTION}; none = the paper's raw plug-in "
                                 "figure; see docs/DEPENDENCE.md)")
    dependence.add_argument('--permutations', type=int, default=1, help="shuffles in the permutation null")
    dependence.add_argument('--seed', type=int, default=0)
    dependence.add_argument('--out', help="write every figure to this JSON file")
    dependence.add_argument('--plot', help="write a figure (PNG) of the per-pair dependence")
    dependence.set_defaults(func=_dependence)

    export = commands.add_parser(
        'export', help="export an LM and its tokenizer to a folder MusicGen.get_pretrained(folder) loads")
    export.add_argument('--lm', required=True, help="//sig/SIG of a solver=musicgen/mmd* XP, its checkpoint.th, "
                                                    "or an exported state_dict.bin")
    export.add_argument('--compression', help="the tokenizer: //sig/SIG, checkpoint.th, exported file or "
                                              "//pretrained/NAME (default: the LM's compression_model_checkpoint)")
    export.add_argument('out_dir', metavar='OUT_DIR', help="folder for state_dict.bin, compression_state_dict.bin "
                                                           "and export.json")
    export.add_argument('--force', action='store_true', help="replace an export already in OUT_DIR")
    export.set_defaults(func=_export)

    report = commands.add_parser(
        'report', help="the paper's Fig. 2 (MMD, total correlation, MSSpec vs MMD weight) for a grid or XPs")
    report.add_argument('targets', nargs='*', metavar='GRID_OR_SIG',
                        help="a grid name (mmd.encodec_32khz), XP signatures or //sig/SIG")
    report.add_argument('--plot', help="write the figure (PNG)")
    report.add_argument('--out', help="write the table as JSON")
    report.add_argument('--markdown', metavar='PATH',
                        help="instead: write the results document (docs/RESULTS.md) from the report JSONs under "
                             "--results")
    report.add_argument('--results', default='docs/results',
                        help="with --markdown: the folder of report JSONs (default docs/results)")
    report.set_defaults(func=_report)
    return parser


def main(argv: tp.Optional[tp.List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = shlex.join(['audiocraft-mmd', *(sys.argv[1:] if argv is None else argv)])  # kept in reports
    if args.command is None:
        parser.print_help()
        return 0
    import logging
    from .environment import AudiocraftConfigError, silence_dependency_notices
    from .errors import ConfigurationError
    silence_dependency_notices()
    # audiocraft logs "Dora directory: ..." at WARNING level when its environment is first read
    logging.getLogger('audiocraft.environment').setLevel(logging.ERROR)
    try:
        return args.func(args)
    except (ConfigurationError, AudiocraftConfigError) as exc:  # the user's input: the message says what to change
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
