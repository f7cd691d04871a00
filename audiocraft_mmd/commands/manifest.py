"""``audiocraft-mmd manifest``: an AudioCraft manifest for a folder of audio."""
import argparse
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction) -> None:
    manifest = commands.add_parser('manifest', help="write an AudioCraft manifest (data.jsonl) for a folder of audio")
    manifest.add_argument('audio_dir', help="folder of audio files (searched recursively)")
    manifest.add_argument('out_dir', help="folder to write data.jsonl into; pass it as datasource.<split>=OUT_DIR")
    manifest.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data import write_manifest
    path = write_manifest(Path(args.audio_dir), Path(args.out_dir))
    print(f"Wrote {path}: use datasource.<split>={path.parent}")
    return 0
