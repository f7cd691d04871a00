"""The oldest torch the plugin runs on, read from its own declared requirement (``pyproject.toml``), and the
one-line refusal of an older one at import: before any later API is missed deep in a run."""
import re
import typing as tp
from importlib import metadata

DISTRIBUTION = 'audiocraft-mmd'
_RELEASE = re.compile(r'(\d+)(?:\.(\d+))?(?:\.(\d+))?')


def release(version: str) -> tp.Tuple[int, int, int]:
    """``'2.1.0+cu121'`` -> ``(2, 1, 0)``: the numeric release of a version string (local and pre tags dropped)."""
    match = _RELEASE.match(version.strip())
    if match is None:
        raise ValueError(f"not a version: {version!r}")
    return tp.cast(tp.Tuple[int, int, int], tuple(int(part or 0) for part in match.groups()))


def oldest_torch() -> tp.Optional[str]:
    """The lower bound of the installed plugin's ``torch>=X`` requirement, or None when it is not installed."""
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return None
    for requirement in requirements:
        match = re.fullmatch(r'torch\s*>=\s*([\w.+]+)\s*(?:,.*)?', requirement.split(';')[0].strip())
        if match:
            return match.group(1)
    return None


def torch_version_problem(installed: str, oldest: str) -> tp.Optional[str]:
    """The one-line refusal when ``installed`` torch is older than ``oldest``; None when it is new enough."""
    if release(installed) >= release(oldest):
        return None
    return (f"audiocraft-mmd needs torch >= {oldest} (the oldest version it is tested with), but this environment "
            f"has torch {installed}: install torch>={oldest} (e.g. AudioCraft 1.3.0's own torch==2.1.0)")


def check_torch() -> None:
    """Raise ImportError naming both versions when the installed torch is older than the declared oldest."""
    oldest = oldest_torch()
    try:
        installed = metadata.version('torch')
    except metadata.PackageNotFoundError:
        return  # importing torch then fails with Python's own message
    problem = None if oldest is None else torch_version_problem(installed, oldest)
    if problem:
        raise ImportError(problem)
