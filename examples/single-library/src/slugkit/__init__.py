"""slugkit: readable URL slugs from any text."""

import re
import unicodedata

__version__ = "1.2.0"

_NOT_WORD = re.compile(r"[^a-z0-9]+")


def slugify(text: str, separator: str = "-") -> str:
    """Lower-case ASCII words of `text` joined by `separator`."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_WORD.sub(separator, ascii_text.lower()).strip(separator)
