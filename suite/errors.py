"""User-facing errors.

Every failure a user can cause (a bad name, a bad parameter, a missing data set) raises a
``SuiteError`` whose message is one sentence naming the bad value and what is accepted.
The CLI prints that sentence and exits with status 2, without a traceback.
"""
from __future__ import annotations


class SuiteError(ValueError):
    """A mistake in the user's input, explained in one sentence."""


def bad_value(what: str, value, accepted: str) -> SuiteError:
    """Build the standard message: ``<what> <value!r> is not accepted; expected <accepted>``."""
    return SuiteError(f"{what} {value!r} is not accepted; expected {accepted}.")
