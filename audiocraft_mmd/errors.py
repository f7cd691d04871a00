"""User-facing errors: a configuration or input that cannot work, with a message naming the key or file."""


class ConfigurationError(ValueError):
    """A configuration that cannot work. The Dora main prints its message without a traceback."""


class MissingDataError(ConfigurationError, FileNotFoundError):
    """A dataset split or file that the configuration points to does not exist."""
