import pytest
from dataenginex import batched, normalize_skills


def test_normalize_skills() -> None:
    assert normalize_skills([" Python", "python", "", "SQL"]) == {"python", "sql"}


def test_batched_keeps_last_partial_batch() -> None:
    assert list(batched(["a", "b", "c"], 2)) == [["a", "b"], ["c"]]


def test_batched_rejects_zero() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        list(batched([], 0))
