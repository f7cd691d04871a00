"""The ``audiocraft-mmd`` command line: the parser of every command (`audiocraft_mmd.commands`) and the entry point."""
import argparse
import shlex
import sys
import typing as tp


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
    from .commands import COMMANDS
    parser = _Parser(
        prog='audiocraft-mmd',
        description="Independence-promoting MMD loss for AudioCraft codecs (EnCodec-MMD). Training runs through "
                    "Dora: `dora -P audiocraft_mmd run solver=compression/encodec_mmd_debug ...`.")
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')
    for command in COMMANDS:
        command.add_parser(commands)
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
