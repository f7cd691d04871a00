"""Train XPs as ``dora -P audiocraft_mmd run`` subprocesses, a few at a time, with one progress bar each."""
import contextlib
import os
import re
import subprocess
import sys
import threading
import time
import typing as tp
from pathlib import Path

from tqdm import tqdm

from ..processes import sigterm_as_exit
from .xp import XP, locate_xps

_PROGRESS = re.compile(r'Train \| Epoch (\d+) \| (\d+)/(\d+)')
_Running = tp.Tuple[XP, subprocess.Popen, threading.Thread, tp.List[str]]


def train_xps(xps: tp.Sequence[XP], dora_dir: Path, jobs: int) -> None:
    """Run the XPs through the plugin's Dora main, ``jobs`` at a time (one CPU thread each), with progress bars.

    A finished XP (all its epochs in its history) is not run again. When this returns, raises, or its process
    gets SIGTERM, no ``dora run`` it started is left running (a stopped XP resumes from its last epoch).
    """
    env = dict(os.environ, AUDIOCRAFT_DORA_DIR=str(dora_dir), PYTHONUNBUFFERED='1')
    dora = Path(sys.executable).parent / 'dora'
    locate_xps(xps, dora_dir)
    running: tp.List[_Running] = []
    queue = [(position, xp) for position, xp in enumerate(xps) if not xp.finished]

    def wait_one() -> None:
        while not any(proc.poll() is not None for _, proc, _, _ in running):
            time.sleep(0.5)
        index = next(i for i, (_, proc, _, _) in enumerate(running) if proc.poll() is not None)
        xp, proc, thread, log = running.pop(index)
        thread.join()
        if proc.returncode != 0:
            tail = ''.join(log[-30:])
            raise RuntimeError(f"Training {xp.label} seed {xp.seed} failed (dora run {' '.join(xp.argv)}):\n{tail}")

    with contextlib.ExitStack() as stack:
        stack.enter_context(sigterm_as_exit())
        stack.callback(_stop, running)
        while queue or running:
            while queue and len(running) < jobs:
                position, xp = queue.pop(0)
                desc = f'training {xp.label}' + (f' seed {xp.seed}' if len(xps) > 2 else '')
                bar = tqdm(total=xp.steps, desc=desc, unit='step', position=position, leave=True)
                proc = subprocess.Popen([str(dora), '-P', 'audiocraft_mmd', 'run', *xp.argv], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                log: tp.List[str] = []
                thread = threading.Thread(target=_follow, args=(proc, bar, log), daemon=True)
                thread.start()
                running.append((xp, proc, thread, log))
            wait_one()


def _stop(running: tp.Sequence[_Running]) -> None:
    """Terminate and reap what is left running after an error or a signal."""
    for _, proc, _, _ in running:
        proc.terminate()
    for _, proc, _, _ in running:
        proc.wait()


def _follow(proc: subprocess.Popen, bar: tqdm, log: tp.List[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        log.append(line)
        match = _PROGRESS.search(line)
        if match:
            epoch, step, total = map(int, match.groups())
            bar.n = (epoch - 1) * total + step
            bar.refresh()
    bar.n = bar.total
    bar.close()
