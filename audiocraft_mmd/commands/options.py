"""Option types and the options several commands share."""
import argparse
import dataclasses
import typing as tp
from pathlib import Path


def float_list(text: str) -> tp.List[float]:
    """``100,1000`` as ``[100.0, 1000.0]`` (an argparse ``type``)."""
    try:
        return [float(v) for v in text.split(',') if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, e.g. 100,1000; got {text!r}") from None


def add_codec_options(command: argparse.ArgumentParser) -> None:
    """The options `demo` and `lm-gap` share: the start codec, the quantizer, the jobs and the music's segments."""
    from ..experiments.recipes import QUANTIZERS, START_STEPS
    from ..experiments.xp import UPDATES_PER_EPOCH
    command.add_argument('--start', default='shipped',
                         help="the codec every codec is fine-tuned from: 'shipped' (default, trained on the demo "
                              "music), 'train' (train it on the given music first, ~20 min on one core), a "
                              "compression model (//sig/SIG, a checkpoint or an exported file), or 'scratch' (no "
                              "start codec: every codec trains --steps from scratch; a tiny codec needs ~2000)")
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
    command.add_argument('--segments', type=int, default=None, dest='max_segments',
                         help="at most this many held-out segments")


def given_settings(args: argparse.Namespace, settings: type) -> tp.Dict[str, tp.Any]:
    """The options given (not None) that set a field of the ``settings`` dataclass, by their ``dest``."""
    return {field.name: value for field in dataclasses.fields(settings)
            if (value := getattr(args, field.name, None)) is not None}


def music_paths(args: argparse.Namespace) -> tp.Tuple[Path, tp.Optional[Path]]:
    """``(cache, audio)`` of ``--cache`` (default: the plugin's cache's ``demo-data``) and ``--audio`` (or None)."""
    from ..environment import cache_dir
    return Path(args.cache) if args.cache else cache_dir() / 'demo-data', Path(args.audio) if args.audio else None
