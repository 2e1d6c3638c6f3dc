"""Errors with messages that name the offending file or key and say how to fix it."""


class LsevosError(Exception):
    """Base class: the command line prints the message without a traceback."""


class DataError(LsevosError):
    """A data file is missing, unreadable or inconsistent."""


class ConfigError(LsevosError):
    """A configuration key is unknown, missing or of the wrong type."""
