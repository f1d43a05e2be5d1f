"""DataEngineX core."""

from collections.abc import Iterable, Iterator


def normalize_skills(skills: Iterable[str]) -> set[str]:
    """Fold case and whitespace so 'Python ' and 'python' are one skill."""
    return {s.strip().lower() for s in skills if s.strip()}


def batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    """Yield lists of at most `size` items, the last one possibly shorter."""
    if size < 1:
        raise ValueError("size must be at least 1")
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
