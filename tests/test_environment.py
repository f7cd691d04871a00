"""Finding audiocraft's config tree and making audiocraft importable from its wheel."""
import os
import subprocess
import sys
import tomllib

import pytest

from audiocraft_mmd import environment, versions
from audiocraft_mmd.environment import AudiocraftConfigError
from conftest import REPO

pytestmark = pytest.mark.smoke


@pytest.fixture(autouse=True)
def _fresh_lookup():
    environment.audiocraft_config_dir.cache_clear()
    yield
    environment.audiocraft_config_dir.cache_clear()


def test_found_tree_is_audiocraft_config():
    path = environment.audiocraft_config_dir()
    assert (path / 'config.yaml').is_file()
    assert (path / 'solver' / 'compression' / 'default.yaml').is_file()
    assert (path / 'model' / 'encodec' / 'encodec_large_nq4_s640.yaml').is_file()


def test_explicit_dir_wins(monkeypatch, tmp_path):
    real = environment.audiocraft_config_dir()
    environment.audiocraft_config_dir.cache_clear()
    monkeypatch.setenv('AUDIOCRAFT_CONFIG_DIR', str(real))
    assert environment.audiocraft_config_dir() == real.resolve()


def test_explicit_dir_must_be_a_config_tree(monkeypatch, tmp_path):
    monkeypatch.setenv('AUDIOCRAFT_CONFIG_DIR', str(tmp_path))
    with pytest.raises(AudiocraftConfigError, match='AUDIOCRAFT_CONFIG_DIR=.*config.yaml'):
        environment.audiocraft_config_dir()


def test_fetch_is_cached_per_version(monkeypatch, tmp_path):
    monkeypatch.setenv('AUDIOCRAFT_MMD_CACHE', str(tmp_path))
    path = environment.audiocraft_config_dir()
    assert path == tmp_path / f'audiocraft-{environment.audiocraft_version()}' / 'config'
    assert (path / 'config.yaml').is_file()
    # the second lookup uses the cache, even with the index out of reach
    environment.audiocraft_config_dir.cache_clear()
    monkeypatch.setenv('AUDIOCRAFT_MMD_INDEX_URL', 'http://127.0.0.1:9/simple')
    assert environment.audiocraft_config_dir() == path


def test_offline_without_cache_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv('AUDIOCRAFT_MMD_CACHE', str(tmp_path))
    monkeypatch.setenv('AUDIOCRAFT_MMD_INDEX_URL', 'http://127.0.0.1:9/simple')
    with pytest.raises(AudiocraftConfigError, match='set AUDIOCRAFT_CONFIG_DIR') as info:
        environment.audiocraft_config_dir()
    assert str(tmp_path) in str(info.value)
    assert not list(tmp_path.rglob('config.yaml'))


def _python(code: str, **env_changes) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=300)


def test_stock_audiocraft_train_imports_without_user():
    """`audiocraft.utils.checkpoint` imports `audiocraft.train` to resolve //sig/: it must work from the wheel."""
    code = ("from audiocraft.utils import checkpoint; from audiocraft import train; "
            "print(checkpoint.resolve_checkpoint_path('//sig/abcd', use_fsdp=False)); print(train.main.dora.dir)")
    proc = _python(code, USER=None, AUDIOCRAFT_DORA_DIR='/tmp/acmmd_dora')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['None', '/tmp/acmmd_dora']


def test_plugin_leaves_other_hydra_apps_alone(tmp_path):
    (tmp_path / 'conf').mkdir()
    (tmp_path / 'conf' / 'config.yaml').write_text('a: 1\n')
    code = ("from hydra import initialize_config_dir, compose\n"
            f"with initialize_config_dir('{tmp_path / 'conf'}', version_base='1.3'):\n"
            "    cfg = compose('config')\n"
            "    from hydra.core.global_hydra import GlobalHydra\n"
            "    paths = [e.path for e in GlobalHydra.instance().config_loader().get_sources()]\n"
            "print(cfg.a, any('audiocraft' in str(p) for p in paths))")
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['1', 'False']


@pytest.mark.parametrize('installed, refused', [('2.0.1', True), ('1.13.1+cu117', True), ('2.1.0', False),
                                                ('2.1.0+cu121', False), ('2.10.0', False), ('3.0', False)])
def test_torch_older_than_the_declared_oldest_is_named(installed, refused):
    problem = versions.torch_version_problem(installed, '2.1.0')
    if refused:
        assert problem is not None and '\n' not in problem
        assert 'torch >= 2.1.0' in problem and f'torch {installed}' in problem
    else:
        assert problem is None


def test_the_oldest_torch_is_the_declared_requirement():
    """One source of truth: the lower bound comes from the installed plugin's metadata (pyproject.toml)."""
    declared = tomllib.loads((REPO / 'pyproject.toml').read_text())['project']['dependencies']
    assert f'torch>={versions.oldest_torch()}' in declared


def test_import_on_an_older_torch_stops_with_one_line():
    code = ("import importlib.metadata as m; real = m.version\n"
            "m.version = lambda name: '2.0.1' if name == 'torch' else real(name)\n"
            "import audiocraft_mmd")
    proc = _python(code)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"ImportError: {versions.torch_version_problem('2.0.1', versions.oldest_torch())}")
