"""A `git log` read while git runs, and the objects it names read in the same pass.

This is the one place dexops runs git concurrently, and only for `history`'s reason: an
overlay's whole history is one `git log` walk that takes seconds on a large repository, and
then one `git cat-file --batch` of every revision's file. Reading the log as git writes it
lets the parsing, and cat-file's reading of the blobs, happen during the walk instead of
after it (cat-file's answers are drained on a thread so neither pipe fills up). Everything
else runs one plain git command after another (`Git.run`); workflows never start git
in the background themselves.
"""

from __future__ import annotations

import codecs
import contextlib
import subprocess
import tempfile
import threading
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import IO, Self, TypeVar

from dexops.adapters.git import Git, batch_line, first_line, parse_batch
from dexops.errors import GitError

_CHUNK = 1 << 16

R = TypeVar("R")


def _pipe(pipe: IO[bytes] | None) -> IO[bytes]:
    if pipe is None:  # pragma: no cover - every pipe used here is asked for
        raise GitError("git's pipe was not opened")
    return pipe


def stream(git: Git, *args: str) -> Generator[str, None, None]:
    """The output of a git command in pieces as git writes it; `GitError` once it failed."""
    # stderr goes to a file: a pipe nobody reads while stdout is read could fill and stall git.
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [git.binary(), *args],
            cwd=git.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=git.env(),
            bufsize=0,  # unbuffered: a read returns what git has written so far
        )
        out = _pipe(proc.stdout)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            while chunk := out.read(_CHUNK):
                yield decoder.decode(chunk)
            yield decoder.decode(b"", final=True)
        finally:
            # The reader may stop early (an error, Ctrl-C): git must not outlive it.
            if proc.poll() is None:
                proc.kill()
            out.close()
            proc.wait()
        if proc.returncode != 0:
            errors.seek(0)
            detail = first_line(errors.read().decode(errors="replace"))
            raise GitError(f"git {args[0]} failed: {detail or f'exit status {proc.returncode}'}")


class _Running:
    """A git process that does not outlive the `with` block it was started in."""

    def close(self) -> None:
        """Stop the process if it still runs and reap it."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ObjectBatch(_Running):
    """A running `git cat-file --batch`: names go in as they are learnt, contents come at the end.

    Its answers are drained on a thread while names are still being written, so neither
    side's pipe fills up; `contents` closes the input and waits for the last answer.
    """

    def __init__(self, git: Git) -> None:
        self._proc = subprocess.Popen(
            [git.binary(), "cat-file", "--batch"],
            cwd=git.root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=git.env(),
        )
        self._stdin = _pipe(self._proc.stdin)
        self._stdout = _pipe(self._proc.stdout)
        self._stderr = _pipe(self._proc.stderr)
        self._names: list[str] = []
        self._asked: set[str] = set()
        self._out = b""
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        self._out = self._stdout.read()

    def request(self, name: str) -> None:
        """Ask for an object (once, however often it is asked for)."""
        if name in self._asked:
            return
        line = batch_line(name)
        self._asked.add(name)
        self._names.append(name)
        try:
            self._stdin.write(line)
        except BrokenPipeError:
            raise self._failure() from None

    def contents(self) -> dict[str, bytes]:
        """Every object asked for that exists, by name."""
        try:
            self._stdin.close()
        except BrokenPipeError:
            raise self._failure() from None
        self._reader.join()
        if self._proc.wait() != 0:
            raise self._failure()
        return parse_batch(self._out, self._names)

    def _failure(self) -> GitError:
        """Why cat-file stopped, once it has."""
        self._reader.join()
        code = self._proc.wait()
        detail = first_line(self._stderr.read().decode(errors="replace"))
        return GitError(f"git cat-file failed: {detail or f'exit status {code}'}")

    def close(self) -> None:
        """Stop cat-file if it still runs, and release its pipes."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._reader.join()
        # Whatever was still buffered for a cat-file that is gone is of no use to anyone.
        with contextlib.suppress(BrokenPipeError):
            self._stdin.close()
        self._stdout.close()
        self._stderr.close()


def log_with_objects(
    git: Git,
    args: Sequence[str],
    parse: Callable[[Iterable[str]], Iterable[R]],
    object_of: Callable[[R], str | None],
) -> tuple[list[R], dict[str, bytes]]:
    """The records `parse` makes of `git <args>` and the objects they name, read meanwhile.

    Two git processes in all, however long the log; `GitError` when either fails.
    """
    with ObjectBatch(git) as batch:
        records = []
        for record in parse(stream(git, *args)):
            records.append(record)
            if (name := object_of(record)) is not None:
                batch.request(name)
        return records, batch.contents()
