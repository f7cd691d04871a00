"""Locate audiocraft's Hydra config tree and prepare the process environment for audiocraft.

audiocraft's wheel does not ship its ``config/`` directory (it only lives in git clones and in the
source distribution), yet ``audiocraft.train`` and ``audiocraft.environment`` read it at import time.
:func:`audiocraft_config_dir` finds it, in this order:

1. ``$AUDIOCRAFT_CONFIG_DIR``, when set (an error if it does not hold ``config.yaml``);
2. the ``config/`` next to an editable audiocraft clone (``<clone>/audiocraft/__init__.py``);
3. the config of the *installed* audiocraft version, extracted once from its source distribution
   fetched through the package index (``$UV_INDEX_URL``, ``$PIP_INDEX_URL`` or PyPI) and cached under
   ``$AUDIOCRAFT_MMD_CACHE`` (default ``~/.cache/audiocraft-mmd``).
"""
from __future__ import annotations

import getpass
import hashlib
import io
import json
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.parse
import urllib.request
from functools import lru_cache
from html.parser import HTMLParser
from importlib import metadata
from pathlib import Path

logger = logging.getLogger(__name__)

CONFIG_DIR_ENV = 'AUDIOCRAFT_CONFIG_DIR'
CACHE_ENV = 'AUDIOCRAFT_MMD_CACHE'
DEFAULT_INDEX = 'https://pypi.org/simple'
_SIMPLE_JSON = 'application/vnd.pypi.simple.v1+json'


class AudiocraftConfigError(RuntimeError):
    """audiocraft's config tree could not be found or fetched."""


def plugin_config_dir() -> Path:
    """The plugin's own Hydra config directory (its additions to audiocraft's)."""
    return Path(__file__).resolve().parent / 'config'


def audiocraft_version() -> str:
    """Installed audiocraft version, e.g. ``'1.3.0'``."""
    return metadata.version('audiocraft')


def cache_dir() -> Path:
    """Where fetched audiocraft config trees are cached."""
    default = Path(os.environ.get('XDG_CACHE_HOME', Path.home() / '.cache')) / 'audiocraft-mmd'
    return Path(os.environ.get(CACHE_ENV, default))


def ensure_writable_dir(path: Path, how_to_change: str = f"set {CACHE_ENV} to a writable directory") -> Path:
    """Check that ``path`` (or, when it does not exist yet, its nearest existing parent) is a directory in
    which files can be written, without creating anything; otherwise raise `AudiocraftConfigError` naming
    the directory and ``how_to_change`` it."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, 'a file is in the way', str(existing))
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise AudiocraftConfigError(f"Cannot write to {path} ({exc.strerror or type(exc).__name__} at {existing}): "
                                    f"{how_to_change}.") from None
    return path


def _is_config_tree(path: Path) -> bool:
    return (path / 'config.yaml').is_file() and (path / 'solver').is_dir()


@lru_cache(maxsize=None)
def audiocraft_config_dir() -> Path:
    """Directory holding audiocraft's Hydra configs (``config.yaml``, ``solver/``, ``model/``...)."""
    explicit = os.environ.get(CONFIG_DIR_ENV)
    if explicit:
        path = Path(explicit).expanduser().resolve()
        if not _is_config_tree(path):
            raise AudiocraftConfigError(
                f"{CONFIG_DIR_ENV}={explicit} is not audiocraft's config directory: it should contain "
                "config.yaml and solver/ (the config/ folder at the root of an audiocraft clone or sdist).")
        return path
    clone_config = _audiocraft_package_dir().parent / 'config'
    if _is_config_tree(clone_config):
        return clone_config
    version = audiocraft_version()
    cached = cache_dir() / f'audiocraft-{version}' / 'config'
    if _is_config_tree(cached):
        return cached
    return fetch_audiocraft_config(version, cached)


def _audiocraft_package_dir() -> Path:
    from importlib.util import find_spec
    spec = find_spec('audiocraft')
    if spec is None or spec.origin is None:
        raise AudiocraftConfigError("audiocraft is not installed: run `uv sync` in the audiocraft-mmd checkout.")
    return Path(spec.origin).resolve().parent


def _index_url() -> str:
    return next((os.environ[var].rstrip('/') for var in ('AUDIOCRAFT_MMD_INDEX_URL', 'UV_INDEX_URL', 'PIP_INDEX_URL')
                 if os.environ.get(var)), DEFAULT_INDEX)


class _LinkParser(HTMLParser):
    """Collects the file links of a PEP 503 (HTML) simple-index page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []  # (filename, href)
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == 'a':
            self._href = dict(attrs).get('href')

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self.links.append((data.strip(), self._href))
            self._href = None


def _find_sdist(version: str, index: str) -> tuple[str, str | None]:
    """Return (url, sha256 or None) of audiocraft's sdist for ``version`` from a simple index.

    Understands both the JSON (PEP 691) and the HTML (PEP 503) forms of the index page.
    """
    page = f'{index}/audiocraft/'
    accept = f'{_SIMPLE_JSON}, text/html;q=0.5'
    request = urllib.request.Request(page, headers={'Accept': accept})
    with urllib.request.urlopen(request, timeout=60) as response:
        content_type = response.headers.get('Content-Type', '')
        body = response.read().decode('utf-8')
    name = f'audiocraft-{version}.tar.gz'
    if 'json' in content_type:
        for entry in json.loads(body).get('files', []):
            if entry.get('filename') == name:
                return urllib.parse.urljoin(page, entry['url']), entry.get('hashes', {}).get('sha256')
    else:
        parser = _LinkParser()
        parser.feed(body)
        for filename, href in parser.links:
            if filename == name:
                url, _, fragment = urllib.parse.urljoin(page, href).partition('#')
                sha256 = fragment[len('sha256='):] if fragment.startswith('sha256=') else None
                return url, sha256
    raise AudiocraftConfigError(f"{page} lists no {name}")


def fetch_audiocraft_config(version: str, destination: Path) -> Path:
    """Download audiocraft's sdist for ``version`` and extract its ``config/`` into ``destination``."""
    ensure_writable_dir(destination.parent, f"set {CACHE_ENV} to a writable directory (the config tree is cached "
                                            f"there), or {CONFIG_DIR_ENV} to an audiocraft {version} config/ tree")
    index = _index_url()
    try:
        url, sha256 = _find_sdist(version, index)
        logger.info("Fetching audiocraft %s config tree from %s", version, url)
        with urllib.request.urlopen(url, timeout=300) as response:
            payload = response.read()
    except (OSError, ValueError) as exc:
        raise AudiocraftConfigError(
            f"audiocraft {version}'s wheel does not ship its Hydra config/ tree and it could not be fetched "
            f"from the package index {index} ({exc}). Either set {CONFIG_DIR_ENV} to the config/ directory "
            f"of an audiocraft {version} clone or sdist, or run once with access to the index: the tree is "
            f"then cached in {destination}.") from exc
    if sha256 is not None and hashlib.sha256(payload).hexdigest() != sha256:
        raise AudiocraftConfigError(f"Checksum mismatch for {url}: refusing to use it.")
    prefix = f'audiocraft-{version}/config/'
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=destination.parent, prefix='.config-'))
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode='r:gz') as archive:
            members = [m for m in archive.getmembers() if m.name.startswith(prefix) and m.isfile()]
            for member in members:
                target = staging / member.name[len(prefix):]
                target.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                assert source is not None
                target.write_bytes(source.read())
        if not _is_config_tree(staging):
            raise AudiocraftConfigError(f"{url} has no config/ tree under {prefix}")
        try:
            staging.rename(destination)
        except OSError:  # another process finished first
            if not _is_config_tree(destination):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination


def silence_dependency_notices() -> None:
    """Hide the notices of dependencies that say nothing about the user's run; for entry points only.

    Hydra warns on every config composition that ``version_base="1.1"`` (audiocraft's, which the plugin
    keeps for identical configs) will change in Hydra 1.4, and at each run that future versions will not
    change the working directory (audiocraft's runs rely on the 1.1 behaviour, which is kept); torch
    warns that the ``weight_norm`` audiocraft's SEANet convolutions use is deprecated; torchaudio warns
    that audiocraft's MSSpec loss asks 64 mel bands of its smallest windows (some bands are then empty,
    as in audiocraft's own codec training).
    """
    import warnings
    from hydra.errors import Hydra14MigrationWarning
    warnings.filterwarnings('ignore', category=Hydra14MigrationWarning)
    warnings.filterwarnings('ignore', message='Future Hydra versions will no longer change working directory',
                            category=UserWarning)
    # a FutureWarning with the name in backticks on the locked torch, a UserWarning without them on torch 2.1
    warnings.filterwarnings('ignore', message=r'`?torch\.nn\.utils\.weight_norm`? is deprecated')
    warnings.filterwarnings('ignore', message='At least one mel filterbank has all zero values', category=UserWarning)


def setup_audiocraft_environment() -> Path:
    """Make ``import audiocraft.train`` and ``AudioCraftEnvironment`` work from an installed wheel.

    Sets ``$USER`` when missing (audiocraft's configs interpolate it) and ``$AUDIOCRAFT_CONFIG``
    (the team/cluster file audiocraft would look for next to its package) when not set by the user,
    and lets torch's safe loader read audiocraft checkpoints (`audiocraft_mmd.compat`).
    Returns audiocraft's config directory.
    """
    if not os.environ.get('USER'):
        try:
            user = getpass.getuser()
        except Exception:  # no passwd entry in some containers
            user = 'audiocraft'
        os.environ['USER'] = user or 'audiocraft'
    config_dir = audiocraft_config_dir()
    if not os.environ.get('AUDIOCRAFT_CONFIG'):
        team = os.environ.get('AUDIOCRAFT_TEAM', 'default')
        team_file = config_dir / 'teams' / f'{team}.yaml'
        if not team_file.is_file():
            known = sorted(p.stem for p in (config_dir / 'teams').glob('*.yaml'))
            raise AudiocraftConfigError(f"AUDIOCRAFT_TEAM={team} has no {team_file}; known teams: {known}")
        os.environ['AUDIOCRAFT_CONFIG'] = str(team_file)
    from .compat import allow_audiocraft_checkpoints
    allow_audiocraft_checkpoints()
    return config_dir
