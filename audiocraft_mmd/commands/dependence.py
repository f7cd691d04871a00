"""``audiocraft-mmd dependence``: how dependent a codec's codebooks are on a dataset (`audiocraft_mmd.metrics.codec`)."""
import argparse
import typing as tp
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction) -> None:
    from ..alignment import PATTERNS
    from ..metrics.dependence import CORRECTIONS, DEFAULT_CORRECTION
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
    dependence.set_defaults(func=run)


def pattern_option(args: argparse.Namespace) -> tp.Optional[tp.Dict[str, tp.Any]]:
    """``--pattern NAME --pattern-args JSON`` as a codebooks pattern config, or None."""
    import json
    from ..errors import ConfigurationError
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


def run(args: argparse.Namespace) -> int:
    import json
    from ..alignment import PATTERNS
    from ..errors import ConfigurationError
    from ..metrics.codec import format_measurement, measure_codec
    from ..metrics.plots import plot_dependence
    from ..models.compression import load_codec
    alignments = ('parallel', 'delay') if args.alignment == 'both' else (args.alignment,)
    pattern = pattern_option(args)
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
