"""``audiocraft-mmd setup``: locate (or fetch once and cache) audiocraft's Hydra config tree."""
import argparse


def add_parser(commands: argparse._SubParsersAction) -> None:
    setup = commands.add_parser('setup', help="locate (or fetch once and cache) audiocraft's Hydra config tree")
    setup.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..environment import audiocraft_config_dir, audiocraft_version
    path = audiocraft_config_dir()
    print(f"audiocraft {audiocraft_version()} config tree: {path}")
    return 0
