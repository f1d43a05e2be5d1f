"""Evaluating `${{ }}` expressions and `if:` conditions the way GitHub Actions does."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.rehearsal.errors import EvaluationError, RehearsalError
from tests.rehearsal.parser import (
    Access,
    Binary,
    Call,
    Literal,
    Name,
    Node,
    Not,
    Star,
    parse,
    uses_status_function,
)
from tests.rehearsal.values import (
    Filtered,
    Value,
    equal,
    less,
    lookup,
    to_json,
    to_text,
    truthy,
)

STATUS_FUNCTIONS = ("success", "failure", "always", "cancelled")


@dataclass
class Status:
    """What the status functions answer where an `if:` is evaluated."""

    success: bool = True
    failure: bool = False
    cancelled: bool = False


@dataclass
class Scope:
    """The contexts available at one place of a workflow, and what that place allows."""

    contexts: Mapping[str, Value]
    status: Status | None = None  # status functions only where an `if:` is evaluated
    workspace: Path | None = None  # hashFiles only where a job's steps run
    misses: list[str] = field(default_factory=list)  # properties that resolved to null

    def evaluate(self, source: str) -> Value:
        """Evaluate one expression (without `${{ }}`)."""
        return Evaluator(self).evaluate(parse(source))


class Evaluator:
    """Walks a parsed expression over a scope."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def evaluate(self, node: Node) -> Value:  # noqa: PLR0911 - one case a node type
        """The value of a node."""
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Name):
            return self._named(node.name)
        if isinstance(node, Access):
            return self._access(node)
        if isinstance(node, Star):
            base = self.evaluate(node.base)
            if isinstance(base, Filtered):
                return Filtered(item for inner in base for item in _children(inner))
            return Filtered(_children(base))
        if isinstance(node, Not):
            return not truthy(self.evaluate(node.operand))
        if isinstance(node, Binary):
            return self._binary(node)
        return self._call(node)

    def _named(self, name: str) -> Value:
        for key, value in self.scope.contexts.items():
            if key.lower() == name.lower():
                return value
        available = ", ".join(sorted(self.scope.contexts))
        raise RehearsalError(f"Unrecognized named-value: {name!r} (available here: {available})")

    def _access(self, node: Access) -> Value:
        base = self.evaluate(node.base)
        key = self.evaluate(node.key)
        if isinstance(base, Filtered):
            found = (lookup(item, key) for item in base)
            return Filtered(value for ok, value in found if ok and value is not None)
        found_it, value = lookup(base, key)
        if not found_it and isinstance(base, dict):
            self.scope.misses.append(node.text)
        return value

    def _binary(self, node: Binary) -> Value:
        left = self.evaluate(node.left)
        if node.op == "&&":
            return self.evaluate(node.right) if truthy(left) else left
        if node.op == "||":
            return left if truthy(left) else self.evaluate(node.right)
        right = self.evaluate(node.right)
        results = {
            "==": lambda: equal(left, right),
            "!=": lambda: not equal(left, right),
            "<": lambda: less(left, right),
            ">": lambda: less(right, left),
            "<=": lambda: less(left, right) or equal(left, right),
            ">=": lambda: less(right, left) or equal(left, right),
        }
        return results[node.op]()

    def _call(self, node: Call) -> Value:
        name = node.name.lower()
        if name in STATUS_FUNCTIONS:
            return self._status(name, node)
        if name == "hashfiles":
            return self._hash_files([self.evaluate(arg) for arg in node.args])
        spec = FUNCTIONS.get(name)
        if spec is None:
            raise RehearsalError(f"Unrecognized function: {node.name!r}")
        low, high, function = spec
        if not low <= len(node.args) <= high:
            raise RehearsalError(
                f"{node.name}() takes {low}..{high} arguments, not {len(node.args)}"
            )
        return function(*[self.evaluate(arg) for arg in node.args])

    def _status(self, name: str, node: Call) -> bool:
        status = self.scope.status
        if status is None:
            raise RehearsalError(f"{node.name}() is only allowed in an if: condition")
        if node.args:
            raise RehearsalError(f"{node.name}() takes no arguments")
        return {
            "success": status.success and not status.cancelled,
            "failure": status.failure and not status.cancelled,
            "always": True,
            "cancelled": status.cancelled,
        }[name]

    def _hash_files(self, patterns: list[Value]) -> str:
        workspace = self.scope.workspace
        if workspace is None:
            raise RehearsalError("hashFiles() is only allowed where a job's steps run")
        if not patterns:
            raise RehearsalError("hashFiles() takes at least one pattern")
        included: set[Path] = set()
        for raw in patterns:
            pattern = to_text(raw)
            if pattern.startswith("!"):
                included -= set(workspace.glob(pattern[1:]))
            else:
                included |= {path for path in workspace.glob(pattern) if path.is_file()}
        if not included:
            return ""
        digest = hashlib.sha256()
        for path in sorted(included):
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()


def _children(value: Value) -> list[Value]:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    return []


def _contains(search: Value, item: Value) -> bool:
    if isinstance(search, list):
        return any(equal(element, item) for element in search)
    if isinstance(search, dict):
        return False
    return to_text(item).casefold() in to_text(search).casefold()


def _format(template: Value, *args: Value) -> str:
    text = to_text(template)
    out: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if text.startswith("{{", position) or text.startswith("}}", position):
            out.append(char)
            position += 2
        elif char == "{":
            match = re.match(r"\{(\d+)\}", text[position:])
            if match is None or int(match.group(1)) >= len(args):
                raise EvaluationError(f"format(): invalid placeholder in {text!r}")
            out.append(to_text(args[int(match.group(1))]))
            position += match.end()
        elif char == "}":
            raise EvaluationError(f"format(): unmatched '}}' in {text!r}")
        else:
            out.append(char)
            position += 1
    return "".join(out)


def _join(items: Value, separator: Value = ",") -> str:
    if isinstance(items, list):
        return to_text(separator).join(to_text(item) for item in items)
    return to_text(items)


def _from_json(text: Value) -> Value:
    source = to_text(text)
    try:
        return json.loads(source)
    except json.JSONDecodeError as exc:
        raise EvaluationError(f"fromJSON() of invalid JSON {source[:80]!r}: {exc}") from exc


FUNCTIONS: dict[str, tuple[int, int, Callable[..., Value]]] = {
    "contains": (2, 2, _contains),
    "startswith": (2, 2, lambda a, b: to_text(a).casefold().startswith(to_text(b).casefold())),
    "endswith": (2, 2, lambda a, b: to_text(a).casefold().endswith(to_text(b).casefold())),
    "format": (1, 99, _format),
    "join": (1, 2, _join),
    "tojson": (1, 1, to_json),
    "fromjson": (1, 1, _from_json),
}

_OPEN = "${{"


def _split(template: str) -> list[tuple[bool, str]]:
    """Literal text and expression sources of a template, in order."""
    parts: list[tuple[bool, str]] = []
    position = 0
    while True:
        start = template.find(_OPEN, position)
        if start < 0:
            parts.append((False, template[position:]))
            return parts
        parts.append((False, template[position:start]))
        cursor, in_string = start + len(_OPEN), False
        while cursor < len(template):
            if template[cursor] == "'":
                in_string = not in_string
            elif not in_string and template.startswith("}}", cursor):
                break
            cursor += 1
        else:
            raise RehearsalError(f"unclosed ${{{{ in {template!r}")
        parts.append((True, template[start + len(_OPEN) : cursor]))
        position = cursor + 2


def interpolate(template: str, scope: Scope) -> str:
    """Substitute every `${{ expr }}` in a string; values are converted to text."""
    return "".join(
        scope_text(scope, source) if is_expr else source for is_expr, source in _split(template)
    )


def scope_text(scope: Scope, source: str) -> str:
    """One expression's value as text."""
    return to_text(scope.evaluate(source))


def evaluate_value(raw: Value, scope: Scope) -> Value:
    """A YAML value: a lone `${{ expr }}` keeps its type, other strings are interpolated."""
    if isinstance(raw, str):
        parts = [part for part in _split(raw.strip()) if part != (False, "")]
        if len(parts) == 1 and parts[0][0]:
            return scope.evaluate(parts[0][1])
        return interpolate(raw, scope)
    if isinstance(raw, dict):
        return {key: evaluate_value(value, scope) for key, value in raw.items()}
    if isinstance(raw, list):
        return [evaluate_value(item, scope) for item in raw]
    return raw


def condition(raw: Value, scope: Scope) -> bool:
    """An `if:`: `${{ }}` optional; without a status function it means `success() && (…)`."""
    if raw is None:
        source = "success()"
    elif isinstance(raw, bool):
        source = "true" if raw else "false"
    elif isinstance(raw, (int, float)):
        source = str(raw)
    else:
        text = str(raw).strip()
        parts = _split(text)
        expressions = [source for is_expr, source in parts if is_expr]
        literal = "".join(source for is_expr, source in parts if not is_expr).strip()
        if expressions and not literal and len(expressions) == 1:
            source = expressions[0]
        elif expressions:
            # GitHub interpolates a mixed string into text, which is then always truthy.
            raise RehearsalError(f"if: mixes text and ${{{{ }}}}: {text!r} is always true")
        else:
            source = text
    node = parse(source)
    if not uses_status_function(node) and not Evaluator(scope).evaluate(parse("success()")):
        return False  # `success() && (…)` stops before evaluating the condition
    return truthy(Evaluator(scope).evaluate(node))
