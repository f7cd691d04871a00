"""The `audiocraft-mmd` command line, the paper config, the wheel layout, and that the docs stay true."""
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, VENV_BIN
from audiocraft_mmd.cli import build_parser

DOCS = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md'))]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / 'audiocraft-mmd'), *args], capture_output=True, text=True, timeout=300)


@pytest.mark.smoke
def test_help_lists_subcommands():
    proc = cli('--help')
    assert proc.returncode == 0
    for name in ('setup', 'manifest', 'dependence', 'report', 'export', 'demo', 'slurm-local'):
        assert name in proc.stdout
    demo = cli('demo', '--help')
    assert demo.returncode == 0 and '--planted-steps' in demo.stdout, demo.stderr


def test_setup_prints_config_tree():
    proc = cli('setup')
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.strip().rsplit(': ', 1)[1])
    assert (path / 'config.yaml').is_file()


def test_manifest(tmp_path):
    from audiocraft_mmd.data.synthetic import synthetic_clip
    import numpy as np
    import soundfile
    (tmp_path / 'audio').mkdir()
    soundfile.write(tmp_path / 'audio' / 'a.wav', synthetic_clip(1.0, 16000, np.random.default_rng(0)), 16000)
    proc = cli('manifest', str(tmp_path / 'audio'), str(tmp_path / 'egs'))
    assert proc.returncode == 0, proc.stderr
    line = (tmp_path / 'egs' / 'data.jsonl').read_text().splitlines()
    assert len(line) == 1 and '"sample_rate": 16000' in line[0]
    missing = cli('manifest', str(tmp_path / 'nothing'), str(tmp_path / 'egs2'))
    assert missing.returncode == 2 and 'nothing does not exist' in missing.stderr and 'Traceback' not in missing.stderr


def test_paper_config_values():
    from audiocraft_mmd.losses import MMDConfig
    from audiocraft_mmd.train import main
    cfg = main.get_xp(['solver=compression/encodec_mmd_32khz']).cfg
    assert cfg.solver == 'compression_mmd'
    assert (cfg.sample_rate, cfg.channels) == (32000, 1)
    assert cfg.sample_rate // (cfg.seanet.ratios[0] * cfg.seanet.ratios[1] * cfg.seanet.ratios[2]
                               * cfg.seanet.ratios[3]) == 50
    assert (cfg.rvq.n_q, cfg.rvq.bins) == (4, 2048)
    assert (cfg.mmd.weight, cfg.mmd.num_batches, cfg.mmd.alignment, cfg.mmd.kernel) == \
        (1e3, 32, 'delay', 'multiscale_gaussian')
    assert (cfg.dataset.batch_size, cfg.dataset.segment_duration) == (64, 1)
    # Section 4.1: 32 batches x 64 clips x T_hat / 8 GPUs = 1280 samples per GPU, T_hat = 5 frames per clip
    mmd = MMDConfig.from_cfg(cfg)
    frames = mmd.frames_used(num_frames=50 * cfg.dataset.segment_duration, num_codebooks=cfg.rvq.n_q)
    assert mmd.num_batches * cfg.dataset.batch_size * frames // 8 == 1280
    assert (cfg.optim.optimizer, cfg.optim.lr, list(cfg.optim.adam.betas)) == ('adam', 3e-4, [0.5, 0.9])
    assert cfg.optim.epochs * cfg.optim.updates_per_epoch == 600_000
    assert cfg.adversarial.adversaries == ['msstftd'] and cfg.losses.msspec > 0


def test_stock_solvers_still_build_through_the_plugin_main(data_overrides):
    from audiocraft.solvers.compression import CompressionSolver
    from audiocraft_mmd import train
    from audiocraft_mmd.solvers import CompressionMMDSolver
    xp = train.main.get_xp(['solver=compression/debug', 'device=cpu', 'datasource.generate=null', *data_overrides])
    with xp.enter():
        solver = train.get_solver(xp.cfg)
    assert type(solver) is CompressionSolver and not isinstance(solver, CompressionMMDSolver)


def test_unknown_solver_is_named():
    import omegaconf
    from audiocraft_mmd.solvers import get_solver
    with pytest.raises(ValueError, match="Unknown solver 'compresion'"):
        get_solver(omegaconf.OmegaConf.create({'solver': 'compresion'}))


def test_wheel_ships_config_grids_and_hydra_plugin(tmp_path):
    subprocess.run(['uv', 'build', '--wheel', '-o', str(tmp_path)], cwd=REPO, check=True, capture_output=True,
                   timeout=600)
    wheel, = tmp_path.glob('*.whl')
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ['audiocraft_mmd/config/mmd/default.yaml', 'audiocraft_mmd/config/pvq/default.yaml',
                     'audiocraft_mmd/config/solver/compression/encodec_mmd_32khz.yaml',
                     'audiocraft_mmd/config/solver/compression/encodec_mmd_debug.yaml',
                     'audiocraft_mmd/config/solver/musicgen/mmd.yaml',
                     'audiocraft_mmd/config/solver/musicgen/mmd_debug.yaml',
                     'audiocraft_mmd/grids/mmd/encodec_32khz.py',
                     'audiocraft_mmd/grids/mmd/musicgen_small.py',
                     'audiocraft_mmd/grids/mmd/debug_cpu.py',
                     'audiocraft_mmd/slurm/sacct.py',
                     'hydra_plugins/audiocraft_mmd_searchpath/searchpath.py',
                     'audiocraft_mmd/demo/start_codec.th']:
        assert expected in names
    assert not any(name.startswith('audiocraft_mmd/config/config.yaml') for name in names)  # only additions
    assert 'hydra_plugins/__init__.py' not in names  # namespace package shared with other Hydra plugins


def _documented_commands() -> list:
    commands = []
    for doc in DOCS:
        for block in re.findall(r'```bash\n(.*?)```', doc.read_text(), flags=re.S):
            commands += [line.split('#')[0].strip() for line in block.replace('\\\n', ' ').splitlines()]
    return [c for c in commands if c]


def test_documented_commands_name_things_that_exist():
    """Each solver, grid and subcommand the docs show exists; the tests run each of these workflows."""
    commands = _documented_commands()
    assert commands
    subcommands = build_parser()._subparsers._group_actions[0].choices  # {name: subparser}
    for command in commands:
        for solver in re.findall(r'solver=(\S+)', command):
            assert (REPO / 'config' / 'solver' / f'{solver}.yaml').is_file(), command
        for grid in re.findall(r'grid (mmd\.\w+)', command):
            assert (REPO / 'grids' / (grid.replace('.', '/') + '.py')).is_file(), command
        match = re.search(r'audiocraft-mmd (\S+)(.*)', command)
        if match:
            assert match.group(1) in subcommands, command
            options = subcommands[match.group(1)]._option_string_actions
            for flag in re.findall(r'(?<!\S)(--[\w-]+)', match.group(2)):
                assert flag in options, command
        for script in re.findall(r'python (\S+\.py)', command):
            assert (REPO / script).is_file(), command


def test_ci_runs_the_readme_test_command():
    commands = [c for c in _documented_commands() if c.endswith('uv run -q pytest')]
    assert len(commands) == 1, commands
    assert commands[0] in (REPO / '.ci' / 'run').read_text().splitlines()
    assert 'bash .ci/smoke-stacks' in (REPO / '.ci' / 'run').read_text().splitlines()


def test_ci_installs_into_an_audiocraft_environment_with_the_readme_line():
    """The README's `pip install` line is the one `.ci/smoke-stacks` runs inside the AudioCraft stack's environment,
    and that stack is resolved from AudioCraft's own pins: only av is overridden."""
    commands = [c for c in _documented_commands() if c.startswith('python -m pip install uv')]
    assert len(commands) == 1, commands
    script = re.sub(r'\\\n\s*', '', (REPO / '.ci' / 'smoke-stacks').read_text())  # continued lines joined
    assert f'source "$stack/bin/activate" && export PIP_QUIET=1 && {commands[0]})' in script
    overrides = [line for line in (REPO / '.ci' / 'audiocraft-stack' / 'overrides.txt').read_text().splitlines()
                 if line and not line.startswith('#')]
    assert [line.split('>')[0].split('=')[0] for line in overrides] == ['av']
