"""A tokenizer and recursive-descent parser for GitHub's expression language."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.rehearsal.errors import RehearsalError

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>-?(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+))
  | (?P<string>'(?:[^']|'')*')
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\].,*])
  | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    """,
    re.VERBOSE,
)

KEYWORDS = {"true": True, "false": False, "null": None}


@dataclass(frozen=True)
class Token:
    """One lexical token: its kind (number, string, op, name) and text."""

    kind: str
    text: str


def tokenize(source: str) -> list[Token]:
    """Split an expression into tokens; anything unrecognised is an error."""
    tokens: list[Token] = []
    position = 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            raise RehearsalError(f"unexpected character at {position} in expression {source!r}")
        kind = match.lastgroup or ""
        text = match.group()
        # A leading '-' belongs to a number only where an operand is expected.
        if kind == "number" and text.startswith("-") and tokens and _ends_operand(tokens[-1]):
            raise RehearsalError(f"subtraction is not part of the expression language: {source!r}")
        if kind != "space":
            tokens.append(Token(kind, text))
        position = match.end()
    return tokens


def _ends_operand(token: Token) -> bool:
    return token.kind in ("number", "string", "name") or token.text in (")", "]", "*")


@dataclass(frozen=True)
class Literal:
    """A literal: null, true, false, a number or a string."""

    value: object


@dataclass(frozen=True)
class Name:
    """A top-level named value: a context such as `github` or `needs`."""

    name: str


@dataclass(frozen=True)
class Access:
    """`base.name`, `base['key']` or `base[expr]`."""

    base: Node
    key: Node
    text: str


@dataclass(frozen=True)
class Star:
    """The object filter `base.*` / `base[*]`."""

    base: Node
    text: str


@dataclass(frozen=True)
class Not:
    """`!operand`."""

    operand: Node


@dataclass(frozen=True)
class Binary:
    """A binary operator: ==, !=, <, <=, >, >=, && or ||."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    """A function call."""

    name: str
    args: tuple[Node, ...]


Node = Literal | Name | Access | Star | Not | Binary | Call


class Parser:
    """Precedence (low to high): ||, &&, == !=, < <= > >=, !, property access, primary."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.position = 0

    def parse(self) -> Node:
        """The whole expression; trailing tokens are an error."""
        if not self.tokens:
            raise RehearsalError("empty expression")
        node = self._or()
        if self.position != len(self.tokens):
            raise self._error(f"unexpected {self.tokens[self.position].text!r}")
        return node

    def _error(self, message: str) -> RehearsalError:
        return RehearsalError(f"{message} in expression {self.source!r}")

    def _peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, text: str) -> bool:
        token = self._peek()
        if token is not None and token.kind == "op" and token.text == text:
            self.position += 1
            return True
        return False

    def _expect(self, text: str) -> None:
        if not self._take(text):
            raise self._error(f"expected {text!r}")

    def _next(self) -> Token:
        token = self._peek()
        if token is None:
            raise self._error("unexpected end")
        self.position += 1
        return token

    def _or(self) -> Node:
        node = self._and()
        while self._take("||"):
            node = Binary("||", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._equality()
        while self._take("&&"):
            node = Binary("&&", node, self._equality())
        return node

    def _equality(self) -> Node:
        node = self._comparison()
        while True:
            for op in ("==", "!="):
                if self._take(op):
                    node = Binary(op, node, self._comparison())
                    break
            else:
                return node

    def _comparison(self) -> Node:
        node = self._unary()
        while True:
            for op in ("<=", ">=", "<", ">"):
                if self._take(op):
                    node = Binary(op, node, self._unary())
                    break
            else:
                return node

    def _unary(self) -> Node:
        if self._take("!"):
            return Not(self._unary())
        return self._postfix(self._primary())

    def _postfix(self, node: Node) -> Node:
        text = _describe(node)
        while True:
            if self._take("."):
                if self._take("*"):
                    text += ".*"
                    node = Star(node, text)
                    continue
                token = self._next()
                if token.kind != "name":
                    raise self._error(f"expected a property name after '.', got {token.text!r}")
                text += "." + token.text
                node = Access(node, Literal(token.text), text)
            elif self._take("["):
                if self._take("*"):
                    self._expect("]")
                    text += "[*]"
                    node = Star(node, text)
                    continue
                key = self._or()
                self._expect("]")
                text += f"[{_describe(key)}]"
                node = Access(node, key, text)
            else:
                return node

    def _primary(self) -> Node:
        token = self._next()
        if token.kind == "number":
            number = float.fromhex(token.text) if "x" in token.text.lower() else float(token.text)
            return Literal(int(number) if number.is_integer() else number)
        if token.kind == "string":
            return Literal(token.text[1:-1].replace("''", "'"))
        if token.kind == "name":
            if token.text in KEYWORDS:
                return Literal(KEYWORDS[token.text])
            if self._take("("):
                args: list[Node] = []
                if not self._take(")"):
                    args.append(self._or())
                    while self._take(","):
                        args.append(self._or())
                    self._expect(")")
                return Call(token.text, tuple(args))
            return Name(token.text)
        if token.text == "(":
            node = self._or()
            self._expect(")")
            return node
        raise self._error(f"unexpected {token.text!r}")


def _describe(node: Node) -> str:
    if isinstance(node, Name):
        return node.name
    if isinstance(node, (Access, Star)):
        return node.text
    if isinstance(node, Literal):
        return repr(node.value)
    return "(…)"


def parse(source: str) -> Node:
    """Parse one expression (the text between `${{` and `}}`)."""
    return Parser(source).parse()


def uses_status_function(node: Node) -> bool:
    """Whether an `if:` calls success(), failure(), always() or cancelled() anywhere."""
    if isinstance(node, Call):
        if node.name.lower() in ("success", "failure", "always", "cancelled"):
            return True
        return any(uses_status_function(arg) for arg in node.args)
    if isinstance(node, Binary):
        return uses_status_function(node.left) or uses_status_function(node.right)
    if isinstance(node, Not):
        return uses_status_function(node.operand)
    if isinstance(node, (Access, Star)):
        return uses_status_function(node.base)
    return False
