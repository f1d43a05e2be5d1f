"""GitHub expression values: truthiness, loose equality, ordering and string conversion."""

from __future__ import annotations

import json
import math
from typing import Any

Value = Any  # None, bool, int, float, str, list, dict (JSON-shaped)


class Filtered(list[Any]):
    """The array an object filter (`.*`, `[*]`) produces; later property access maps over it."""


def truthy(value: Value) -> bool:
    """GitHub's truthiness: false, 0, -0, NaN, '' and null are falsy; objects are truthy."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return not (value == 0 or math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def to_number(value: Value) -> float:  # noqa: PLR0911 - one case a type
    """Coerce for a comparison between different types (null 0, bool 1/0, strings parsed)."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0.0
        try:
            if text.lower().startswith(("0x", "-0x")):
                return float(int(text, 16))
            return float(text)
        except ValueError:
            return math.nan
    return math.nan


def _kind(value: Value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def equal(left: Value, right: Value) -> bool:
    """Loose equality: different types compare as numbers, strings ignore case."""
    kind_left, kind_right = _kind(left), _kind(right)
    if kind_left != kind_right:
        return to_number(left) == to_number(right)
    if kind_left == "string":
        return bool(left.casefold() == right.casefold())
    if kind_left == "object":
        return left is right
    if kind_left == "number":
        return bool(float(left) == float(right))
    return bool(left == right)


def less(left: Value, right: Value) -> bool:
    """Loose `<`: different types compare as numbers, strings ordinal ignoring case."""
    kind_left, kind_right = _kind(left), _kind(right)
    if kind_left != kind_right:
        return to_number(left) < to_number(right)
    if kind_left == "string":
        return bool(left.casefold() < right.casefold())
    if kind_left in {"object", "null"}:
        return False
    return to_number(left) < to_number(right)


def number_text(value: float) -> str:
    """A number the way GitHub prints it: integers without a fraction."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def to_text(value: Value) -> str:
    """String conversion of a scalar; objects and arrays must go through toJSON()."""
    from tests.rehearsal.errors import RehearsalError

    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return number_text(value)
    if isinstance(value, str):
        return value
    raise RehearsalError(f"an object or array used as a string: {to_json(value)[:80]!r}")


def to_json(value: Value) -> str:
    """toJSON(): two-space indented JSON, integers without a fraction."""

    def clean(item: Value) -> Value:
        if isinstance(item, float) and item.is_integer():
            return int(item)
        if isinstance(item, dict):
            return {key: clean(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [clean(inner) for inner in item]
        return item

    return json.dumps(clean(value), indent=2)


def lookup(container: Value, key: Value) -> tuple[bool, Value]:
    """Property or index access: (found, value); object keys ignore case, as GitHub's do."""
    if isinstance(container, dict):
        name = to_text(key) if not isinstance(key, str) else key
        if name in container:
            return True, container[name]
        folded = name.casefold()
        for candidate, value in container.items():
            if isinstance(candidate, str) and candidate.casefold() == folded:
                return True, value
        return False, None
    if isinstance(container, list) and not isinstance(key, (str, bool)) and key is not None:
        index = to_number(key)
        if math.isnan(index) or index < 0 or int(index) >= len(container):
            return False, None
        return True, container[int(index)]
    return False, None
