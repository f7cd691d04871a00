"""The ``audiocraft-mmd`` command line."""
import argparse
import sys
import typing as tp
from pathlib import Path


def _setup(args: argparse.Namespace) -> int:
    from .environment import AudiocraftConfigError, audiocraft_config_dir, audiocraft_version
    try:
        path = audiocraft_config_dir()
    except AudiocraftConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"audiocraft {audiocraft_version()} config tree: {path}")
    return 0


def _manifest(args: argparse.Namespace) -> int:
    from .data import write_manifest
    try:
        path = write_manifest(Path(args.audio_dir), Path(args.out_dir))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Wrote {path}: use datasource.<split>={path.parent}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='audiocraft-mmd',
        description="Independence-promoting MMD loss for AudioCraft codecs (EnCodec-MMD). Training runs through "
                    "Dora: `dora -P audiocraft_mmd run solver=compression/encodec_mmd_debug ...`.")
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')
    setup = commands.add_parser('setup', help="locate (or fetch once and cache) audiocraft's Hydra config tree")
    setup.set_defaults(func=_setup)
    manifest = commands.add_parser('manifest', help="write an AudioCraft manifest (data.jsonl) for a folder of audio")
    manifest.add_argument('audio_dir', help="folder of audio files (searched recursively)")
    manifest.add_argument('out_dir', help="folder to write data.jsonl into; pass it as datasource.<split>=OUT_DIR")
    manifest.set_defaults(func=_manifest)
    return parser


def main(argv: tp.Optional[tp.List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
