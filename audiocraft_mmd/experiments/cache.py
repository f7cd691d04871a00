"""A measurement kept in a JSON file beside what it measured, read back while its key is unchanged."""
import json
import typing as tp
from pathlib import Path


def cached_figures(path: Path, key: tp.Dict[str, tp.Any], compute: tp.Callable[[], tp.Dict[str, tp.Any]],
                   companions: tp.Sequence[Path] = ()) -> tp.Dict[str, tp.Any]:
    """The figures stored in ``path`` under ``key`` (a JSON-able dict naming everything they depend on), or
    ``compute()``'s, stored there. ``companions``: files ``compute`` also writes, which must exist for a reuse."""
    if path.is_file() and all(Path(file).is_file() for file in companions):
        stored = json.loads(path.read_text())
        if stored.get('key') == key:
            return stored['figures']
    figures = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({'key': key, 'figures': figures}))
    return figures
