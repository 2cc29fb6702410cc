"""Errors that stop annexscan before anything is scanned (exit code 2)."""


class ConfigError(Exception):
    """Bad input: a file, field or argument that is not what was expected.

    The message names where (file, line, field) and what was expected; the CLI prints it as is.
    """
