"""Errors a user can fix. The CLI prints them without a traceback (``--debug`` shows it)."""
from __future__ import annotations


class BestandError(Exception):
    """Base class for errors caused by input, configuration or usage, not by a bug."""


class ConfigError(BestandError):
    """A configuration file or value is wrong; the message names the key."""


class DataValidationError(BestandError):
    """Input data violates the data contract.

    ``problems`` is a DataFrame with one row per problem and the columns
    ``file, line, column, value, message, severity`` (severity ``error`` or ``warning``).
    """

    def __init__(self, problems, message: str | None = None):
        self.problems = problems
        n = int((problems["severity"] == "error").sum()) if len(problems) else 0
        super().__init__(message or f"The input data has {n} problem(s); see the table above.")
