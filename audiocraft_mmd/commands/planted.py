"""``audiocraft-mmd planted``: the MMD where it must act, on codes dependent by construction (`audiocraft_mmd.planted`)."""
import argparse
from pathlib import Path

from .options import float_list, given_settings


def add_parser(commands: argparse._SubParsersAction) -> None:
    from ..losses import MODES
    from ..planted.codec import PlantedSettings, QUANTIZERS
    from ..planted.run import PLANTED_SCALES, PLANTED_SEEDS, PLANTED_WEIGHTS
    planted = commands.add_parser(
        'planted', help="the MMD where it must act: a point codec whose codebooks are dependent by construction, "
                        "trained with and without the MMD (weights x mmd.scale x seeds, ~2 min on 2 cores)")
    planted.add_argument('--weights', type=float_list, default=list(PLANTED_WEIGHTS),
                         help=f"MMD weights besides the baseline's 0 (default {','.join(f'{w:g}' for w in PLANTED_WEIGHTS)})")
    planted.add_argument('--scales', type=lambda t: [v for v in t.split(',') if v], default=list(PLANTED_SCALES),
                         help=f"mmd.scale values, comma-separated (default {','.join(PLANTED_SCALES)})")
    planted.add_argument('--seeds', type=int, default=PLANTED_SEEDS, help=f"seeds per codec (default {PLANTED_SEEDS})")
    planted.add_argument('--steps', type=int, default=None,
                         help=f"training steps of each codec (default {PlantedSettings().steps})")
    planted.add_argument('--quantizer', choices=QUANTIZERS, default=None,
                         help="rvq (AudioCraft's, default) or pvq (the plugin's product quantizer)")
    planted.add_argument('--mode', choices=MODES, default=None,
                         help="mmd.mode: macro_batch (default, the paper's) or bank (see docs/MMD.md)")
    planted.add_argument('--num-batches', type=int, default=None,
                         help=f"mmd.num_batches: batches per macro-batch, or spanned by the bank (default "
                              f"{PlantedSettings().num_batches}: an MMD step at every step)")
    planted.add_argument('--jobs', type=int, default=None, help="runs at a time (default: 2, or 1 on one core)")
    planted.add_argument('--out', default='planted', help="planted-QUANTIZER.json, its figure and the runs go here "
                                                        "(default ./planted)")
    planted.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..planted.codec import PlantedSettings
    from ..planted.run import run_planted
    from ..processes import default_jobs
    settings = PlantedSettings(**given_settings(args, PlantedSettings))  # --steps, --quantizer, --mode, --num-batches
    run_planted(Path(args.out), settings, weights=args.weights, scales=args.scales, seeds=args.seeds,
                jobs=default_jobs() if args.jobs is None else args.jobs)
    return 0
