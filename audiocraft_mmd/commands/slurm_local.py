"""``audiocraft-mmd slurm-local``: a one-node Slurm on this machine (`audiocraft_mmd.slurm`)."""
import argparse
from pathlib import Path


def add_parser(commands: argparse._SubParsersAction) -> None:
    slurm = commands.add_parser(
        'slurm-local', help="a one-node Slurm on this machine (root, Debian packages) to try `dora grid` on it")
    slurm.add_argument('action', choices=['up', 'down', 'status'])
    slurm.add_argument('--dir', help="its config, state, logs and sacct stand-in (default "
                                     "~/.cache/audiocraft-mmd/slurm-local)")
    slurm.add_argument('--port', type=int, default=6817, help="slurmctld's port; slurmd takes the next (default 6817)")
    slurm.add_argument('--install', action='store_true',
                       help="up: install the Debian packages slurmctld slurmd slurm-client munge first if missing")
    slurm.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import subprocess
    from ..environment import cache_dir
    from ..errors import ConfigurationError
    from ..slurm import LocalSlurm, SlurmUnavailable
    from ..slurm.local import install_command, missing_slurm_programs
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
