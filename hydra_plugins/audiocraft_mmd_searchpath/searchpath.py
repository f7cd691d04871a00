"""Hydra SearchPathPlugin exposing audiocraft's config tree to the plugin's (and audiocraft's) apps.

Hydra discovers it through the ``hydra_plugins`` namespace package. It only acts for the two apps
that need audiocraft's configs, so other Hydra applications in the same environment are left alone:

- the plugin's Dora main (primary config ``audiocraft_mmd/config``): audiocraft's tree is appended,
  so the plugin's configs add to and override audiocraft's;
- ``audiocraft.train``, whose primary config ``audiocraft/../config`` does not exist in an installed
  wheel: its primary entry is pointed at the located tree. ``audiocraft.utils.checkpoint`` imports
  ``audiocraft.train`` to resolve ``//sig/`` paths, so this keeps that import working.
"""
from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

_PLUGIN_SUFFIX = 'audiocraft_mmd/config'
_AUDIOCRAFT_SUFFIX = 'audiocraft/../config'


def _local_path(path: str) -> str:
    return path[len('file://'):] if path.startswith('file://') else path


class AudiocraftConfigSearchPathPlugin(SearchPathPlugin):
    """Makes audiocraft's config directory (see `audiocraft_mmd.environment`) visible to Hydra."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        mains = [e for e in search_path.get_path() if e.provider == 'main' and e.path]
        paths = [_local_path(e.path).replace('\\', '/').rstrip('/') for e in mains]
        if any(p.endswith(_PLUGIN_SUFFIX) for p in paths):
            from audiocraft_mmd.environment import setup_audiocraft_environment
            search_path.append(provider='audiocraft', path=f'file://{setup_audiocraft_environment()}')
            return
        for element, path in zip(mains, paths):
            if path.endswith(_AUDIOCRAFT_SUFFIX) and not Path(path).is_dir():
                from audiocraft_mmd.environment import setup_audiocraft_environment
                element.path = f'file://{setup_audiocraft_environment()}'
