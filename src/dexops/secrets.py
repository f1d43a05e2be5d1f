"""Secrets come from the environment and never leave dexops in any output."""

from __future__ import annotations

import os
from collections.abc import Iterable

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


def known_secrets(names: Iterable[str] = SECRET_VARIABLES) -> list[str]:
    """All secret values currently in the environment or registered, longest first."""
    values = {os.environ.get(name, "") for name in names} | _extra
    return sorted((v for v in values if len(v) >= 6 and v != "__token__"), key=len, reverse=True)


def mask(text: str) -> str:
    """Replace every known secret value in `text` with ***."""
    for secret in known_secrets():
        text = text.replace(secret, MASK)
    return text
