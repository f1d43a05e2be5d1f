"""Secrets come from the environment and never leave dexops in any output."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable

# Variables whose values are credentials wherever they are set.
SECRET_VARIABLES = (
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "TWINE_PASSWORD",
    "TWINE_USERNAME",
    "PYPI_TOKEN",
    "TEST_PYPI_TOKEN",
    "ARGOCD_AUTH_TOKEN",
    "SLACK_WEBHOOK",
    "REGISTRY_PASSWORD",
    "REGISTRY_TOKEN",
)

_extra: set[str] = set()

MASK = "***"


def register(value: str | None) -> None:
    """Treat a value as a secret from now on (e.g. a token read from a custom variable)."""
    # Short values like "1" or "__token__" would mask ordinary text; they are not secrets.
    if value and len(value) >= 6 and value != "__token__":
        _extra.add(value)


# In an http(s) URL everything before `@` is a credential (`https://TOKEN@host`); elsewhere
# (`ssh://git@host`) only a password after `user:` is.
_HTTP_USERINFO = re.compile(r"(?P<keep>\bhttps?://)[^/@\s?#]+@", re.IGNORECASE)
_PASSWORD = re.compile(r"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/@\s:?#]*:)[^/@\s?#]+@")


def _secret(value: str) -> bool:
    return len(value) >= 6 and value != "__token__"


def _lines(value: str) -> list[str]:
    # A multi-line secret (a JSON key file) is masked line by line too: a log may split it.
    return [line.strip() for line in value.splitlines() if _secret(line.strip())]


def known_secrets(names: Iterable[str] = SECRET_VARIABLES) -> list[str]:
    """All secret values currently in the environment or registered, and each of their lines.

    Longest first, so a whole secret is masked before any of its lines.
    """
    values = {os.environ.get(name, "") for name in names} | _extra
    found = {v for v in values if _secret(v)}
    found |= {line for v in found for line in _lines(v)}
    return sorted(found, key=len, reverse=True)


def _forms(secret: str) -> list[str]:
    """A secret as it appears after escaping: JSON, repr, shell quoting (`'` -> `'"'"'`)."""
    forms = [secret, json.dumps(secret)[1:-1], repr(secret)[1:-1], secret.replace("'", "'\"'\"'")]
    return list(dict.fromkeys(f for f in forms if _secret(f)))


def masker() -> Callable[[str], str]:
    """A `mask` for many texts at once (a table's cells): the environment is read once."""
    # Reading the secret variables costs ~20 us; a history of 10,000 rows masks 90,000 cells.
    forms = [form for secret in known_secrets() for form in _forms(secret)]

    def hide(text: str) -> str:
        for form in forms:
            text = text.replace(form, MASK)
        text = _HTTP_USERINFO.sub(lambda m: f"{m.group('keep')}{MASK}@", text)
        return _PASSWORD.sub(lambda m: f"{m.group('keep')}{MASK}@", text)

    return hide


def mask(text: str) -> str:
    """Replace every known secret, in any escaped form, and every URL's credentials with ***."""
    return masker()(text)
