"""A one-node Slurm started by hand, to try `dora grid` on a workstation (and to test it).

``audiocraft-mmd slurm-local up`` writes a ``slurm.conf`` for this machine (one node with its CPUs and
memory, a partition named ``debug``: AudioCraft's default team maps the ``default`` cluster's partitions
to it), starts ``munged`` (unless one already answers), ``slurmctld`` and ``slurmd`` in the state folder
and records their PIDs; ``down`` cancels the jobs and stops those daemons, by PID, and only those.
Dora reads job states with ``sacct``, which needs accounting storage: the state folder's ``bin/`` holds a
stand-in built on ``scontrol`` (`audiocraft_mmd.slurm.sacct`). Commands reach this Slurm with the
environment of `LocalSlurm.env` (``SLURM_CONF`` and that ``bin/`` first on ``PATH``).

It needs root (the daemons run as root, ``munged`` as user munge) and Debian's packages
``slurmctld slurmd slurm-client munge`` (`DEBIAN_PACKAGES`; ``up --install`` runs apt-get).
"""
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import typing as tp
from dataclasses import dataclass
from pathlib import Path

DEBIAN_PACKAGES = ('slurmctld', 'slurmd', 'slurm-client', 'munge')
#: program -> the Debian package that has it
PROGRAMS = {'slurmctld': 'slurmctld', 'slurmd': 'slurmd', 'sbatch': 'slurm-client', 'scontrol': 'slurm-client',
            'sinfo': 'slurm-client', 'squeue': 'slurm-client', 'scancel': 'slurm-client', 'munged': 'munge',
            'munge': 'munge', 'unmunge': 'munge'}
PARTITION = 'debug'
CRED_EXPIRE_S = 10
MUNGE_SOCKET_DIR = Path('/run/munge')
_SEARCH_PATH = os.pathsep.join([os.environ.get('PATH', ''), '/usr/sbin', '/sbin', '/usr/bin'])


class SlurmUnavailable(RuntimeError):
    """This machine cannot run the local Slurm (no root, packages missing, ports taken); the message says why."""


def program(name: str) -> tp.Optional[str]:
    return shutil.which(name, path=_SEARCH_PATH)


def missing_slurm_programs() -> tp.List[str]:
    return [name for name in PROGRAMS if program(name) is None]


def install_command() -> str:
    return f"apt-get install -y --no-install-recommends {' '.join(DEBIAN_PACKAGES)}"


def _process_start_time(pid: int) -> tp.Optional[str]:
    """Start time of ``pid`` (field 22 of /proc/PID/stat), to never signal a PID the system reused."""
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return None
    return stat.rsplit(')', 1)[1].split()[19]


def _memory_mb() -> int:
    for line in Path('/proc/meminfo').read_text().splitlines():
        if line.startswith('MemTotal:'):
            return int(line.split()[1]) // 1024
    raise SlurmUnavailable("cannot read MemTotal from /proc/meminfo")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(('127.0.0.1', port))
        except OSError:
            return False
    return True


@dataclass
class LocalSlurm:
    """The one-node Slurm of the state folder ``root``.

    Args:
        root: its slurm.conf, state, spool, logs, PIDs and the ``sacct`` stand-in live here.
        cpus: CPUs of the node (default: this machine's).
        memory_mb: memory of the node in MB (default: 95 % of this machine's).
        port: slurmctld's port; slurmd uses the next one.
    """
    root: Path
    cpus: tp.Optional[int] = None
    memory_mb: tp.Optional[int] = None
    port: int = 6817

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        self.conf = self.root / 'slurm.conf'
        self.bin_dir = self.root / 'bin'
        self._pid_file = self.root / 'daemons.json'

    def env(self, base: tp.Optional[tp.Mapping[str, str]] = None) -> tp.Dict[str, str]:
        """``base`` (default: this process's environment) with ``SLURM_CONF`` and the sacct stand-in first on PATH."""
        env = dict(os.environ if base is None else base)
        env['SLURM_CONF'] = str(self.conf)
        env['PATH'] = os.pathsep.join([str(self.bin_dir), env.get('PATH', ''), '/usr/sbin'])
        return env

    def exports(self) -> str:
        """Shell lines that point a terminal at this Slurm."""
        return f'export SLURM_CONF={self.conf}\nexport PATH={self.bin_dir}:$PATH'

    def _recorded(self) -> tp.Dict[str, dict]:
        """{name: {'pid', 'start_time'}} of the daemons this state folder started, running or not."""
        return json.loads(self._pid_file.read_text()) if self._pid_file.is_file() else {}

    def daemons(self) -> tp.Dict[str, int]:
        """{name: PID} of the daemons this state folder started and that still run."""
        return {name: entry['pid'] for name, entry in self._recorded().items()
                if _process_start_time(entry['pid']) == entry['start_time']}

    # -- up ------------------------------------------------------------------------------------------
    def check_machine(self) -> None:
        """Raise `SlurmUnavailable` naming what this machine lacks."""
        if os.geteuid() != 0:
            raise SlurmUnavailable("the local Slurm runs its daemons as root (SlurmUser=root); run it as root")
        if missing := missing_slurm_programs():
            packages = sorted({PROGRAMS[name] for name in missing})
            raise SlurmUnavailable(f"missing {', '.join(missing)} (Debian packages {' '.join(packages)}): "
                                   f"run `{install_command()}` or `audiocraft-mmd slurm-local up --install`")

    def write_config(self) -> Path:
        """slurm.conf of one node named after this host, at 127.0.0.1, partition ``debug``."""
        host = socket.gethostname().split('.')[0]
        cpus = self.cpus or os.cpu_count() or 1
        memory = self.memory_mb or int(0.95 * _memory_mb())
        for sub in ('state', 'spool', 'log'):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        lines = [
            '# One-node Slurm of audiocraft-mmd slurm-local (see audiocraft_mmd/slurm/local.py).',
            'ClusterName=audiocraft-mmd-local',
            f'SlurmctldHost={host}(127.0.0.1)',
            'SlurmUser=root', 'SlurmdUser=root', 'AuthType=auth/munge', 'MpiDefault=none',
            f'SlurmctldPort={self.port}', f'SlurmdPort={self.port + 1}',
            f'StateSaveLocation={self.root / "state"}', f'SlurmdSpoolDir={self.root / "spool"}',
            f'SlurmctldPidFile={self.root / "slurmctld.pid"}', f'SlurmdPidFile={self.root / "slurmd.pid"}',
            f'SlurmctldLogFile={self.root / "log" / "slurmctld.log"}',
            f'SlurmdLogFile={self.root / "log" / "slurmd.log"}',
            'ProctrackType=proctrack/linuxproc', 'TaskPlugin=task/none',
            'JobAcctGatherType=jobacct_gather/none', 'AccountingStorageType=accounting_storage/none',
            'SelectType=select/cons_tres', 'SelectTypeParameters=CR_CPU_Memory',
            'SchedulerType=sched/backfill', 'ReturnToService=2', 'SlurmdParameters=config_overrides',
            'MinJobAge=86400',  # finished jobs stay visible to the sacct stand-in for a day
            # a requeued (preempted) job waits the credential lifetime before it starts again: 120 s by default
            f'AuthInfo=cred_expire={CRED_EXPIRE_S}',
            f'NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN',
            f'PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP',
        ]
        self.conf.write_text('\n'.join(lines) + '\n')
        return self.conf

    def write_sacct(self) -> Path:
        """The sacct stand-in, as an executable script run by this Python."""
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        script = self.bin_dir / 'sacct'
        source = (Path(__file__).with_name('sacct.py')).read_text()
        script.write_text(f"#!{sys.executable} -I\n{source}")
        script.chmod(0o755)
        return script

    def _munge_answers(self) -> bool:
        munge, unmunge = program('munge'), program('unmunge')
        if not (munge and unmunge and MUNGE_SOCKET_DIR.exists()):
            return False
        cred = subprocess.run([munge, '-n'], capture_output=True, timeout=10)
        return cred.returncode == 0 and subprocess.run(
            [unmunge], input=cred.stdout, capture_output=True, timeout=10).returncode == 0

    def _start(self, name: str, command: tp.List[str], started: tp.Dict[str, dict]) -> None:
        with open(self.root / 'log' / f'{name}.out', 'ab') as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, env=self.env())
        time.sleep(0.05)
        started[name] = {'pid': proc.pid, 'start_time': _process_start_time(proc.pid)}
        self._pid_file.write_text(json.dumps(started, indent=2))

    def up(self, timeout: float = 60.) -> None:
        """Start the daemons and wait until the node is idle. Raises `SlurmUnavailable` with the reason."""
        self.check_machine()
        if running := self.daemons():
            raise SlurmUnavailable(f"the local Slurm of {self.root} already runs ({running}); "
                                   f"`audiocraft-mmd slurm-local down --dir {self.root}` first")
        for port in (self.port, self.port + 1):
            if not _port_free(port):
                raise SlurmUnavailable(f"port {port} is in use (another Slurm?); choose another with --port")
        self.write_config()
        self.write_sacct()
        started: tp.Dict[str, dict] = {}
        if not self._munge_answers():
            MUNGE_SOCKET_DIR.mkdir(parents=True, exist_ok=True)
            shutil.chown(MUNGE_SOCKET_DIR, 'munge', 'munge')
            self._start('munged', ['runuser', '-u', 'munge', '--', program('munged'), '--foreground'], started)
            self._wait(self._munge_answers, 'munged', timeout)
        self._start('slurmctld', [program('slurmctld'), '-D', '-f', str(self.conf)], started)
        self._start('slurmd', [program('slurmd'), '-D', '-f', str(self.conf)], started)
        self._wait(lambda: self.node_state() == 'idle', 'the node to be idle', timeout)

    def _wait(self, ready: tp.Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            recorded, running = self._recorded(), self.daemons()
            dead = [name for name in recorded if name not in running]
            if dead or time.monotonic() > deadline:
                logs = {name: (self.root / 'log' / f'{name}.out') for name in recorded}
                tails = '; '.join(f"{name}: {path.read_text()[-300:].strip()}" for name, path in logs.items()
                                  if path.is_file() and path.stat().st_size)
                self.down()
                reason = f"{', '.join(dead)} exited" if dead else f"no answer after {timeout:g} s"
                raise SlurmUnavailable(f"waiting for {what}: {reason} (logs in {self.root / 'log'}) {tails}")
            time.sleep(0.3)

    def node_state(self) -> str:
        """sinfo's state of the node ('idle', 'mix', 'alloc', 'down*', ...), '' when slurmctld does not answer."""
        proc = subprocess.run([program('sinfo') or 'sinfo', '-h', '-o', '%t'], capture_output=True, text=True,
                              env=self.env(), timeout=30)
        return proc.stdout.strip().splitlines()[0] if proc.returncode == 0 and proc.stdout.strip() else ''

    def jobs(self) -> tp.List[str]:
        """Ids of the jobs pending or running."""
        proc = subprocess.run([program('squeue') or 'squeue', '-h', '-o', '%A'], capture_output=True, text=True,
                              env=self.env(), timeout=30)
        return proc.stdout.split() if proc.returncode == 0 else []

    # -- down ----------------------------------------------------------------------------------------
    def down(self, timeout: float = 30.) -> tp.List[str]:
        """Cancel every job, then stop the daemons this state folder started (by PID). Returns their names."""
        running = self.daemons()
        if 'slurmctld' in running and (jobs := self.jobs()):
            subprocess.run([program('scancel') or 'scancel', *jobs], env=self.env(), capture_output=True)
            deadline = time.monotonic() + timeout
            while self.jobs() and time.monotonic() < deadline:
                time.sleep(0.3)
        stopped = [name for name in ('slurmd', 'slurmctld', 'munged') if name in running]
        for name in stopped:
            pid = running[name]
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _process_start_time(pid) is not None and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.1)
            if _process_start_time(pid) is not None:
                os.kill(pid, signal.SIGKILL)
                _reap(pid)
        self._pid_file.unlink(missing_ok=True)
        return stopped


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is a child of this process (it was started by `up` in this process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
