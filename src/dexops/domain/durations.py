"""Numbers of seconds: every bound dexops takes is finite and positive."""

from __future__ import annotations

import math

from dexops.errors import ConfigError


def seconds(value: object, what: str) -> float:
    """`value` as seconds when it is a finite positive number; a ConfigError naming `what` if not.

    A string is read as a number first, so flags and configuration share one rule
    (`nan`, `inf` and negatives are refused alike).
    """
    number: float | None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    else:
        number = None
    if number is None or not math.isfinite(number) or number <= 0:
        shown = (
            f"{value:g}" if isinstance(value, float | int) and number is not None else repr(value)
        )
        raise ConfigError(f"{what} must be a finite positive number of seconds, not {shown}")
    return number
