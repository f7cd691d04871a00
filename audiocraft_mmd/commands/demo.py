"""``audiocraft-mmd demo``: the MMD codec against its baseline on real music (`audiocraft_mmd.demo.run`)."""
import argparse
from pathlib import Path

from .options import add_codec_options, given_settings, music_paths


def add_parser(commands: argparse._SubParsersAction) -> None:
    from ..demo.run import DEFAULT, DEMO_SCALE, PLANTED_STEPS, PRESETS, SWEEP_WEIGHTS
    from ..losses import MODES, SCALES
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
    demo.add_argument('--planted-steps', type=int, default=PLANTED_STEPS,
                      help=f"steps of each codec of the first part, planted dependence (default {PLANTED_STEPS}; "
                           "0 skips it)")
    demo.add_argument('--num-batches', type=int, default=None,
                      help="mmd.num_batches of the MMD codecs: batches per macro-batch, or spanned by the bank; 1: an "
                           "MMD update at every step (default: the solver's 4)")
    demo.add_argument('--mode', choices=MODES, default=None,
                      help="mmd.mode of the MMD codecs: macro_batch (default, the paper's) or bank (docs/MMD.md)")
    demo.add_argument('--measure-train', action='store_true', default=None,
                      help="also measure every codec on the train split (where the paper measures), beside the "
                           "held-out song")
    add_codec_options(demo)
    demo.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo.run import DemoSettings, run_demo
    preset = 'long' if args.long else 'default'
    settings = DemoSettings.from_preset(preset, **given_settings(args, DemoSettings))
    cache, audio = music_paths(args)
    run_demo(out=Path(args.out), cache=cache, audio=audio, settings=settings, command=args.command_line, preset=preset)
    return 0
