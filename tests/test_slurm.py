"""`dora grid` on a real one-node Slurm (`audiocraft-mmd slurm-local`): schedule, train, checkpoint, report,
preemption by USR2 and an exact resume. Needs root and Debian's Slurm packages (installed here with apt-get
when missing); skipped, with the reason, where the machine has neither."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import torch

from conftest import DORA_DIR, REPO, VENV_BIN, ensure_debian_packages, read_history

pytestmark = pytest.mark.slurm

GRID = 'mmd.debug_cpu'
TIMINGS = ('duration', 'mmd_time')


def _install_slurm() -> None:
    """Install the Debian packages when missing; skip (with why) where that is impossible."""
    from audiocraft_mmd.slurm.local import install_command, missing_slurm_programs
    if os.geteuid() != 0:
        pytest.skip("the local Slurm runs its daemons as root; this test runs as a user")
    ensure_debian_packages('Slurm', install_command(), lambda: not missing_slurm_programs())


@pytest.fixture(scope='module')
def slurm(tmp_path_factory):
    """A one-node Slurm for this module; every daemon it started is stopped by PID at the end."""
    from audiocraft_mmd.slurm import LocalSlurm
    _install_slurm()
    root = tmp_path_factory.mktemp('slurm')
    proc = subprocess.run([str(VENV_BIN / 'audiocraft-mmd'), 'slurm-local', 'up', '--install', '--dir', str(root)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f'export SLURM_CONF={root}/slurm.conf' in proc.stdout
    local = LocalSlurm(root)
    started = local.daemons()
    assert {'slurmctld', 'slurmd'} <= set(started)
    status = subprocess.run([str(VENV_BIN / 'audiocraft-mmd'), 'slurm-local', 'status', '--dir', str(root)],
                            capture_output=True, text=True, timeout=60).stdout
    assert 'node idle' in status and f"slurmctld (PID {started['slurmctld']})" in status, status
    yield local
    proc = subprocess.run([str(VENV_BIN / 'audiocraft-mmd'), 'slurm-local', 'down', '--dir', str(root)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for name, pid in started.items():
        assert not Path(f'/proc/{pid}').exists() or 'Z' in Path(f'/proc/{pid}/stat').read_text().split()[2], name
    assert local.daemons() == {}


def dora_grid(slurm, data_dir: Path, *args: str, timeout: int = 280) -> subprocess.CompletedProcess:
    """`dora grid mmd.debug_cpu ARGS` against the local Slurm. ``--no_git_save``: the job runs this working
    tree, which may hold uncommitted changes (git_save, AudioCraft's default, runs a clean commit's clone)."""
    env = slurm.env(dict(os.environ, AUDIOCRAFT_DORA_DIR=str(DORA_DIR), AUDIOCRAFT_MMD_DATA=str(data_dir),
                         PYTHONUNBUFFERED='1'))
    proc = subprocess.run([str(VENV_BIN / 'dora'), '-P', 'audiocraft_mmd', 'grid', GRID, '--no_git_save', *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def grid_xps() -> dict:
    """{mmd weight: XP folder} of the grid's XPs, through the grid folder's links."""
    xps = {}
    for link in (DORA_DIR / 'grids' / GRID).iterdir():
        argv = json.loads((link.resolve() / '.argv.json').read_text())
        weight = float(next(arg for arg in argv if arg.startswith('mmd.weight=')).split('=')[1])
        xps[weight] = link.resolve()
    return xps


def job_id(folder: Path) -> str:
    return json.loads((folder / 'job.json').read_text())['job_id']


def _without_timings(history: list) -> list:
    return [{stage: {k: v for k, v in metrics.items() if k not in TIMINGS} for stage, metrics in epoch.items()}
            for epoch in history]


@pytest.fixture(scope='module')
def grid_run(slurm, dataset):
    """`dora grid mmd.debug_cpu` scheduled; its MMD XP preempted with USR2 during epoch 2; then `dora grid`
    monitoring until both XPs are done. Alongside, `dora run` of the MMD XP's argv with a label (same training,
    another folder) is the uninterrupted reference. Returns (data dir, {weight: folder}, the monitoring stdout,
    the reference's folder)."""
    data_dir = Path(dataset['train']).parent
    dora_grid(slurm, data_dir, '--no_monitoring')
    xps = grid_xps()
    folder = xps[1000.0]
    assert not (folder / 'history.json').exists()  # a fresh XP: its log shows this job's epochs only
    argv = [*json.loads((folder / '.argv.json').read_text()), 'label=uninterrupted']
    reference = subprocess.Popen([str(VENV_BIN / 'dora'), '-P', 'audiocraft_mmd', 'run', *argv], cwd=REPO,
                                 env=dict(os.environ, AUDIOCRAFT_DORA_DIR=str(DORA_DIR)),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = folder / 'solver.log.0'
    deadline = time.monotonic() + 180
    while not (log.is_file() and 'Train | Epoch 2 |' in log.read_text()):  # the epoch-1 checkpoint is written
        assert time.monotonic() < deadline, "the MMD XP's job did not reach epoch 2"
        time.sleep(0.2)
    subprocess.run(['scancel', '--signal=USR2', job_id(folder)], check=True, env=slurm.env())
    proc = dora_grid(slurm, data_dir, '--interval', '0.05')
    _, stderr = reference.communicate(timeout=300)
    assert reference.returncode == 0, stderr[-3000:]
    from audiocraft_mmd.train import main
    return data_dir, xps, proc.stdout, main.get_xp(argv).folder


def test_grid_trains_checkpoints_and_asks_for_the_config_resources(grid_run):
    _, xps, out, _ = grid_run
    assert sorted(xps) == [0.0, 1000.0]
    for weight, folder in xps.items():
        history = read_history(folder)
        assert len(history) == 2 and 'evaluate' in history[-1], weight
        assert history[-1]['train']['mmd_samples'] > 0
        assert (folder / 'checkpoint.th').is_file() and (folder / 'checkpoint_2.th').is_file()
        slurm_config = json.loads((folder / 'job.json').read_text())['slurm_config']
        # compression/encodec_mmd_debug.yaml's slurm block, not Dora's 40 GB and 10 CPUs per GPU
        assert (slurm_config['gpus'], slurm_config['cpus_per_task'], slurm_config['mem_per_gpu']) == (0, 1, 4)
    script = next(DORA_DIR.glob('arrays/*/*_submission.sh')).read_text()
    assert '#SBATCH --mem=4GB' in script and '#SBATCH --cpus-per-task=1' in script and '--gres' not in script
    assert len([line for line in out.splitlines() if 'mmd.weight=' in line and ' COM ' in line]) >= 2, out[-2000:]


def test_preempted_job_resumes_and_ends_as_the_uninterrupted_run(grid_run):
    """USR2 (what Slurm preemption sends) during epoch 2: submitit requeued the job, it resumed once from the
    epoch-1 checkpoint and ended with the metrics and weights of the same XP run without interruption."""
    _, xps, _, reference = grid_run
    folder = xps[1000.0]
    job_log = next(DORA_DIR.glob(f'arrays/*/{job_id(folder)}_0_log.out')).read_text()
    assert 'this job is preempted' in job_log and 'Requeued job' in job_log
    assert (folder / 'solver.log.0').read_text().count('Loading existing checkpoint') == 1
    assert _without_timings(read_history(folder)) == _without_timings(read_history(reference))
    model = torch.load(folder / 'checkpoint.th', weights_only=False)['model']
    uninterrupted = torch.load(reference / 'checkpoint.th', weights_only=False)['model']
    assert all(torch.equal(model[name], weight) for name, weight in uninterrupted.items())


def test_second_grid_reports_done_and_schedules_nothing(slurm, grid_run):
    data_dir, xps, _, _ = grid_run
    before = {weight: job_id(folder) for weight, folder in xps.items()}
    jobs_before = len(subprocess.run(['sacct', '-P', '-n', '-o', 'JobID'], capture_output=True, text=True,
                                     env=slurm.env()).stdout.split())
    proc = dora_grid(slurm, data_dir, '--no_monitoring')
    assert len([line for line in proc.stdout.splitlines() if 'mmd.weight=' in line and ' COM ' in line]) == 2
    assert {weight: job_id(folder) for weight, folder in xps.items()} == before
    jobs_after = len(subprocess.run(['sacct', '-P', '-n', '-o', 'JobID'], capture_output=True, text=True,
                                    env=slurm.env()).stdout.split())
    assert jobs_after == jobs_before


# -- pieces that need no Slurm ------------------------------------------------------------------------------
SCONTROL = (
    "JobId=12 ArrayJobId=12 ArrayTaskId=2-3%256 JobName=audiocraft_mmd_array_ab UserId=root(0) JobState=PENDING "
    "Reason=Resources Partition=debug NodeList=(null) ExitCode=0:0\n"
    "JobId=14 ArrayJobId=12 ArrayTaskId=1 JobName=audiocraft_mmd_array_ab JobState=RUNNING Partition=debug "
    "NodeList=vm ExitCode=0:0\n"
    "JobId=9 JobName=audiocraft_mmd_1a055f62 JobState=COMPLETED Partition=debug NodeList=vm ExitCode=0:0\n")


def test_sacct_stand_in_answers_what_submitit_reads(monkeypatch, capsys):
    """The stand-in's `sacct -o JobID,State,NodeList --parsable2 -j ...` parses as submitit parses sacct."""
    from submitit.slurm.slurm import SlurmInfoWatcher
    from audiocraft_mmd.slurm import sacct
    monkeypatch.setattr(sacct, 'show_jobs', lambda ids: sacct.parse_jobs(SCONTROL))
    assert sacct.main(['-o', 'JobID,State,NodeList', '--parsable2', '-j', '12', '-j', '9']) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == ['JobID|State|NodeList', '12_[2-3]|PENDING|None assigned', '12_1|RUNNING|vm',
                                '9|COMPLETED|vm']
    info = SlurmInfoWatcher().read_info(out)
    assert {key: value['State'] for key, value in info.items()} == {
        '12_2': 'PENDING', '12_3': 'PENDING', '12_1': 'RUNNING', '9': 'COMPLETED'}
    assert sacct.main(['-o', 'JobID,MaxRSS']) == 1  # a field it cannot answer is an error, not a blank


def test_local_slurm_config_names_one_node_and_the_debug_partition(tmp_path):
    from audiocraft_mmd.slurm import LocalSlurm
    slurm = LocalSlurm(tmp_path, cpus=2, memory_mb=1000, port=7100)
    conf = slurm.write_config().read_text()
    for line in ['SlurmctldPort=7100', 'SlurmdPort=7101', 'ProctrackType=proctrack/linuxproc', 'TaskPlugin=task/none',
                 'JobAcctGatherType=jobacct_gather/none', 'SelectType=select/cons_tres', 'SlurmUser=root',
                 'MinJobAge=86400', 'AuthInfo=cred_expire=10']:
        assert line in conf.splitlines(), line
    assert 'CPUs=2 RealMemory=1000' in conf and 'PartitionName=debug' in conf
    script = slurm.write_sacct()
    assert os.access(script, os.X_OK) and script.read_text().startswith('#!')
    env = slurm.env({'PATH': '/usr/bin'})
    assert env['SLURM_CONF'] == str(tmp_path / 'slurm.conf') and env['PATH'].startswith(str(tmp_path / 'bin'))
    assert slurm.daemons() == {}


@pytest.mark.parametrize('solver, expected', [
    ('compression/encodec_mmd_debug', {'gpus': 0, 'cpus_per_task': 1, 'mem_per_gpu': 4, 'time': 60}),
    ('musicgen/mmd_debug', {'gpus': 0, 'cpus_per_task': 1, 'mem_per_gpu': 4, 'time': 60}),
    ('compression/encodec_mmd_32khz', {'gpus': 8, 'mem_per_gpu': 40, 'cpus_per_gpu': 10, 'time': 3600}),
    ('musicgen/mmd', {'gpus': 32, 'mem_per_gpu': 40, 'cpus_per_gpu': 10, 'time': 3600}),
])
def test_grids_ask_slurm_for_what_the_solver_config_says(solver, expected):
    from audiocraft_mmd.slurm import xp_slurm_resources
    assert xp_slurm_resources({'solver': solver}) == expected


def test_srun_of_several_tasks_refuses_to_train_copies_into_one_xp(slurm, dataset, tmp_path):
    """`srun -n 2 dora run ...`: Dora starts one rank per task (it reads the world size from submitit only), so
    the two tasks would train two copies into the same XP folder; each stops at start with the message."""
    data = [f'datasource.{split}={path}' for split, path in dataset.items()]
    env = slurm.env(dict(os.environ, AUDIOCRAFT_DORA_DIR=str(tmp_path / 'dora')))
    proc = subprocess.run(['srun', '-n', '2', '-c', '1', '--mem=2G', str(VENV_BIN / 'dora'), '-P', 'audiocraft_mmd',
                           'run', 'solver=compression/encodec_mmd_debug', *data, 'optim.epochs=1'],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert output.count('this Slurm step has 2 tasks but each runs a single rank') == 2, output[-3000:]
    assert 'Traceback' not in output and not list((tmp_path / 'dora').glob('xps/*/checkpoint*.th'))
