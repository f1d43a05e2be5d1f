"""One exit-code table: the enum, every error class, and the one docs page agree."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import dexops
from dexops.errors import DexopsError, ExitCode

DOC = Path(__file__).resolve().parents[1] / "docs" / "exit-codes.md"


def _subclasses(cls: type[DexopsError]) -> set[type[DexopsError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_the_docs_page_is_the_enum() -> None:
    rows = re.findall(r"^\| (\d+) \| `([A-Z_]+)` \| ", DOC.read_text(), flags=re.MULTILINE)
    assert [(int(code), name) for code, name in rows] == [(m.value, m.name) for m in ExitCode]


def test_codes_are_distinct_and_the_signal_ones_are_what_a_shell_reports() -> None:
    assert len({m.value for m in ExitCode}) == len(ExitCode)
    assert ExitCode.INTERRUPTED == 128 + 2
    assert ExitCode.TERMINATED == 128 + 15


def test_every_error_class_exits_with_a_code_of_the_table() -> None:
    for module in pkgutil.walk_packages(dexops.__path__, "dexops."):
        importlib.import_module(module.name)
    classes = _subclasses(DexopsError)
    assert len(classes) > 20
    for cls in classes:
        assert isinstance(cls.exit_code, ExitCode), cls
        assert cls.exit_code not in {ExitCode.OK, ExitCode.USAGE}, cls


def test_no_other_page_lists_codes_itself() -> None:
    root = DOC.parents[1]
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        if page == DOC:
            continue
        text = page.read_text()
        assert "| 20 |" not in text, page
        assert "| 127 |" not in text, page
        assert not re.search(r"\bexits? (2|3|20|130|143)\b", text), page
