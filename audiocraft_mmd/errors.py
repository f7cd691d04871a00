"""User-facing errors: a configuration or input that cannot work, with a message naming the key or file."""
import difflib
import typing as tp


class ConfigurationError(ValueError):
    """A configuration that cannot work. The Dora main prints its message without a traceback."""


class MissingDataError(ConfigurationError, FileNotFoundError):
    """A dataset split or file that the configuration points to does not exist."""


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


def nearest_key(key: str, valid: tp.Iterable[str], cutoff: float = 0.6) -> tp.Optional[str]:
    """The valid key closest to a misspelt ``key`` (None when none has a similarity ratio >= ``cutoff``)."""
    matches = difflib.get_close_matches(key, list(valid), n=1, cutoff=cutoff)
    return matches[0] if matches else None
