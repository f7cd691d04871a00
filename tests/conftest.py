"""Shared fixtures: an isolated Dora directory, a tiny generated dataset, and helpers to run Dora."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import typing as tp
from pathlib import Path

import pytest

# Must be set before audiocraft_mmd.train is imported: every XP of the test session lands here.
DORA_DIR = Path(tempfile.mkdtemp(prefix='audiocraft_mmd_tests_'))
os.environ['AUDIOCRAFT_DORA_DIR'] = str(DORA_DIR)

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DEBUG_SOLVER = 'solver=compression/encodec_mmd_debug'


@pytest.fixture(scope='session')
def dataset(tmp_path_factory):
    """Synthetic 16 kHz manifests: {split: manifest_dir}."""
    from audiocraft_mmd.data import write_synthetic_dataset
    root = tmp_path_factory.mktemp('data')
    return write_synthetic_dataset(root, {'train': 8, 'valid': 2, 'evaluate': 2}, duration=3.0, sample_rate=16000)


@pytest.fixture(scope='session')
def data_overrides(dataset):
    """Dora/Hydra overrides pointing the debug solver at the synthetic dataset (no generate stage)."""
    return [f'datasource.{split}={path}' for split, path in dataset.items()]


def ensure_debian_packages(what: str, command: str, installed: tp.Callable[[], bool]) -> None:
    """Run ``command`` (an apt-get install) when ``installed()`` is false; skip the test, saying why, where that
    is impossible (not root, no apt-get, no Debian packages reachable). A failed install is retried once
    after refreshing the package lists."""
    if installed():
        return
    if os.geteuid() != 0:
        pytest.skip(f"{what} is missing and this test runs as a user, not root, to run `{command}`")
    if shutil.which('apt-get') is None:
        pytest.skip(f"{what} is missing and there is no apt-get to run `{command}`")
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    proc = subprocess.run(command.split(), capture_output=True, text=True, timeout=900, env=env)
    if proc.returncode:  # a stale package list: refresh it once and retry
        subprocess.run(['apt-get', 'update', '-q'], capture_output=True, text=True, timeout=300, env=env)
        proc = subprocess.run(command.split(), capture_output=True, text=True, timeout=900, env=env)
    if proc.returncode or not installed():
        pytest.skip(f"`{command}` failed (no Debian packages reachable?): {proc.stderr[-500:]}")


def run_dora(*args: str, timeout: int = 900, check: bool = True) -> subprocess.CompletedProcess:
    """Run the ``dora`` of this environment with the plugin package, as a user would."""
    env = dict(os.environ, AUDIOCRAFT_DORA_DIR=str(DORA_DIR), PYTHONUNBUFFERED='1')
    proc = subprocess.run([str(VENV_BIN / 'dora'), '-P', 'audiocraft_mmd', *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"dora {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-8000:]}")
    return proc


def xp_folder(argv) -> Path:
    """Folder of the XP that `dora run <argv>` uses."""
    from audiocraft_mmd.train import main
    return main.get_xp(list(argv)).folder


def read_history(folder: Path) -> list:
    return json.loads((folder / 'history.json').read_text())


TRAIN_ARGS = ['optim.epochs=2', 'optim.updates_per_epoch=8', 'mmd.num_batches=4']


@pytest.fixture(scope='session')
def trained_xp(data_overrides):
    """`dora run solver=compression/encodec_mmd_debug` for 2 short epochs, checkpoint every epoch.

    Returns (XP folder, argv)."""
    argv = [DEBUG_SOLVER, *data_overrides, *TRAIN_ARGS]
    run_dora('run', *argv)
    return xp_folder(argv), argv


@pytest.fixture(scope='session')
def baseline_xp(data_overrides):
    """The same debug codec with MMD weight 0 (measured, not trained), one epoch. Returns its folder."""
    argv = [DEBUG_SOLVER, *data_overrides, 'optim.epochs=1', 'optim.updates_per_epoch=8', 'mmd.num_batches=4',
            'mmd.weight=0']
    run_dora('run', *argv)
    return xp_folder(argv)
