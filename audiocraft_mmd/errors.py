"""User-facing errors: a configuration or input that cannot work, with a message naming the key or file."""
import difflib
import typing as tp

VALUE_CUTOFF = 0.75  # a value this close to a valid one is taken for a typo of it (lower: flatten -> pattern)


class ConfigurationError(ValueError):
    """A configuration that cannot work. The Dora main prints its message without a traceback."""


class MissingDataError(ConfigurationError, FileNotFoundError):
    """A dataset split or file that the configuration points to does not exist."""


class NonFiniteLossError(RuntimeError):
    """A training step whose loss turned NaN or Inf: the run stops before it saves a checkpoint. The Dora main
    prints its message (the step, the last good checkpoint) without a traceback."""


USER_ERRORS = (ConfigurationError, NonFiniteLossError)  # what the Dora main prints as its message alone


class ConfigurationErrors(ConfigurationError):
    """Several configuration errors found in one pass; the message has one line per error."""

    def __init__(self, errors: tp.Sequence[ConfigurationError]):
        self.errors = list(errors)
        lines = [str(e) for e in self.errors]
        if len(lines) > 1:
            lines = [f"{len(lines)} problems in the configuration:"] + [f"  - {line}" for line in lines]
        super().__init__('\n'.join(lines))


def run_checks(checks: tp.Iterable[tp.Callable[[], tp.Any]]) -> None:
    """Run every check; raise the `ConfigurationError`s they raise together (one error as it is)."""
    errors: tp.List[ConfigurationError] = []
    for check in checks:
        try:
            check()
        except ConfigurationErrors as exc:
            errors.extend(exc.errors)
        except ConfigurationError as exc:
            errors.append(exc)
    raise_all(errors)


def raise_all(errors: tp.Sequence[ConfigurationError]) -> None:
    """Raise nothing (no error), the one error, or all of them as `ConfigurationErrors`."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ConfigurationErrors(errors)


def nearest_key(key: str, valid: tp.Iterable[str], cutoff: float = 0.6, by_word: bool = False) -> tp.Optional[str]:
    """The valid key closest to a misspelt ``key`` (None when none has a similarity ratio >= ``cutoff``).

    With ``by_word``, a ``key`` matching no whole valid key is also matched against each ``_``-separated word of
    the valid keys (``gausian`` -> ``multiscale_gaussian``).
    """
    valid = list(valid)
    matches = difflib.get_close_matches(key, valid, n=1, cutoff=cutoff)
    if matches or not by_word:
        return matches[0] if matches else None
    words = {word: name for name in reversed(valid) for word in name.split('_')}  # a word's first valid key
    matches = difflib.get_close_matches(key, list(words), n=1, cutoff=cutoff)
    return words[matches[0]] if matches else None


def choice_problem(key: str, value: tp.Any, choices: tp.Iterable[tp.Any], sep: str = '=') -> tp.Optional[str]:
    """Why ``value`` is not a valid ``key`` (one of ``choices``), with the nearest valid value; None when it is.

    ``key`` is how the user names the setting (``mmd.scale``, ``--scale``), ``sep`` what joins it to a value in
    the message (``=`` for config keys, a space for command-line flags). A value differing from a valid one only
    in case is named as such; one with the letters of a valid one, or close to it (`VALUE_CUTOFF`, or to one of
    its ``_``-separated words), gets it as a suggestion. Use it for every key and flag with a fixed set of values,
    one call per key::

        problem = choice_problem('mmd.mode', self.mode, MODES)
    """
    choices = list(choices)
    if value in choices:
        return None
    valid = ', '.join(map(str, choices))
    if isinstance(value, str):
        names = [str(c) for c in choices]
        same = [name for name in names if name.lower() == value.lower()]
        if same:
            return f"{key}{sep}{value}: did you mean {same[0]}? (values are case-sensitive)"
        near = next((name for name in names if sorted(name.lower()) == sorted(value.lower())), None) or \
            nearest_key(value.lower(), names, cutoff=VALUE_CUTOFF, by_word=True)
        if near is not None:
            return f"{key}{sep}{value}: did you mean {near}? ({key} must be one of {valid})"
    return f"{key} must be one of {valid}, got {value!r}."
