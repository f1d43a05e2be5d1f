"""Project files as text: one-line errors, line endings kept, no write outside the repository."""

from __future__ import annotations

from pathlib import Path

from dexops.errors import ConfigError


def read_text(path: Path) -> str:
    """The UTF-8 text of `path`, line endings as they are (CRLF stays CRLF).

    A missing, unreadable or non-UTF-8 file is a `ConfigError`.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start})") from None


def inside(root: Path, path: Path) -> Path:
    """`path` resolved, when it lies inside the repository `root`; a ConfigError otherwise.

    A committed symlink that leads out of the repository is refused here, before anything
    is read for an edit or written.
    """
    base = root.resolve()
    try:
        resolved = (root / path).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise ConfigError(f"{path} cannot be resolved: {exc}") from None
    if not resolved.is_relative_to(base):
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        raise ConfigError(
            f"{shown} leads outside the repository (to {resolved}); dexops writes only inside it"
        )
    return resolved


def write_inside(root: Path, path: Path, text: str) -> None:
    """Write `text` (UTF-8, newlines as given) to `path`, which must lie inside `root`."""
    target = inside(root, path)
    try:
        target.write_bytes(text.encode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
