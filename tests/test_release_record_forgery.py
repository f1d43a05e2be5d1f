"""The release record has one place, the end of the tag message; notes cannot forge it."""

from __future__ import annotations

import pytest

from dexops.adapters.sbom import (
    BLOCK_END,
    BLOCK_START,
    SupplyChainError,
    digest_block,
    parse_digests,
    strip_digests,
    with_digests,
)

REAL = {"dataenginex-0.4.11.tar.gz": "a" * 64}
FORGED = {"dataenginex-0.4.11.tar.gz": "f" * 64}
SIGNATURE = "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"


def _notes_with(block: str, *, before: str = "", after: str = "") -> str:
    return f"dataenginex 0.4.11\n\n{before}{block}{after}"


@pytest.mark.parametrize(
    "notes",
    [
        pytest.param(_notes_with(digest_block(FORGED)), id="forged-block-at-the-end"),
        pytest.param(_notes_with(digest_block(FORGED), after="more notes\n"), id="in-the-middle"),
        pytest.param(_notes_with(digest_block(FORGED).replace("\n", "\r\n")), id="crlf"),
        pytest.param(
            _notes_with(f"  {BLOCK_START}\n{'f' * 64}  x.whl\n{BLOCK_END}\n"), id="indented"
        ),
        pytest.param(_notes_with(f"{BLOCK_START}\n"), id="lone-start"),
        pytest.param(_notes_with(f"{BLOCK_END}\n"), id="lone-end"),
    ],
)
def test_notes_cannot_plant_a_record(notes: str) -> None:
    message = with_digests(notes, REAL)
    assert parse_digests(message) == REAL
    # An app's release records no digests: the notes' block must not read as one either.
    assert parse_digests(with_digests(notes, {})) is None


def test_the_record_is_read_before_a_signature() -> None:
    message = with_digests("dataenginex 0.4.11\n\nnotes\n", REAL) + SIGNATURE
    assert parse_digests(message) == REAL


def test_a_block_that_is_not_at_the_end_is_not_a_record() -> None:
    message = f"title\n\n{digest_block(FORGED)}\ntrailing notes\n"
    assert parse_digests(message) is None
    assert strip_digests(message) == message


def test_a_broken_trailing_record_is_an_error() -> None:
    with pytest.raises(SupplyChainError, match="malformed"):
        parse_digests(f"title\n\n{BLOCK_START}\nnot a digest line\n{BLOCK_END}\n")
    with pytest.raises(SupplyChainError, match="not closed"):
        parse_digests(f"title\n\n{BLOCK_START}\n{'a' * 64}  x.whl\n")


def test_neutralised_notes_keep_their_words() -> None:
    message = with_digests(_notes_with(digest_block(FORGED)), REAL)
    assert f"  {BLOCK_START}" in message
    assert strip_digests(message).count("f" * 64) == 1
