"""Strings from users that end up in shell text, SLURM batch scripts or file names.

A SLURM batch script is read line by line: a newline inside a matrix name, a partition or
an ``#SBATCH`` value starts a new line of shell (quoting cannot help, the opening quote
sits in a comment), and every ``#SBATCH`` line after it is ignored. So names get a strict
character set, and every other such value must be one line of printable characters.
Values pasted into a command are quoted with ``shlex.quote`` where they are pasted.
"""
from __future__ import annotations

import re

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_RULE = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def name_problem(value: str) -> str | None:
    """None for a safe name (matrix name, job name), else what is accepted."""
    if NAME_RE.fullmatch(value):
        return None
    return f"expected {NAME_RULE}"


def line_problem(value: str) -> str | None:
    """None for one line of printable text, else what is accepted."""
    if _CONTROL.search(value):
        return "expected one line of printable text (no newline, tab or other control characters)"
    return None
