"""The two ways a rehearsal stops: the harness cannot model something, or GitHub would fail too."""

from __future__ import annotations


class RehearsalError(Exception):
    """The workflow uses something the harness does not understand; the test must fail."""


class EvaluationError(RehearsalError):
    """An expression GitHub would also fail to evaluate at run time (e.g. fromJSON of '')."""
