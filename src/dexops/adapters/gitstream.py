"""git commands read while they run: a command's output in pieces, and a fed `cat-file`.

A history of thousands of revisions is one `git log` walk that takes most of a second on a
large repository; reading its output as git writes it lets the parsing, and the reading of
the objects it names, happen during the walk instead of after it.
"""

from __future__ import annotations

import codecs
import contextlib
import subprocess
import tempfile
import threading
from collections.abc import Generator, Sequence
from typing import IO, Self

from dexops.adapters.git import Git, first_line, parse_batch, relative_object
from dexops.errors import GitError

_CHUNK = 1 << 16


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
        if "\n" in name:
            raise GitError(f"{name!r} does not name a git object")
        self._asked.add(name)
        self._names.append(name)
        try:
            self._stdin.write(f"{relative_object(name)}\n".encode())
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


class Pending(_Running):
    """A git command started now and read later, so that other work overlaps it.

    Meant for commands that only read (ls-remote, for-each-ref): one left unread is killed.
    """

    def __init__(self, git: Git, *args: str) -> None:
        self._args = args
        self._proc = subprocess.Popen(
            [git.binary(), *args],
            cwd=git.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=git.env(),
        )

    def result(self) -> str:
        """Its stdout as `Git.run` returns it; `GitError` when it failed."""
        out, errors = self._proc.communicate()
        if self._proc.returncode != 0:
            detail = first_line(errors) or f"exit status {self._proc.returncode}"
            raise GitError(f"git {self._args[0]} failed: {detail}")
        return out.removesuffix("\n")

    def close(self) -> None:
        """Stop the command if it still runs (it only reads: nothing is lost)."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.communicate()


def run_concurrently(git: Git, commands: Sequence[Sequence[str]]) -> list[str]:
    """Run independent git commands side by side; their stdout, as `Git.run` returns it.

    The first failure raises `GitError`; every command is stopped and reaped either way.
    """
    with contextlib.ExitStack() as running:
        pending = [running.enter_context(Pending(git, *args)) for args in commands]
        return [each.result() for each in pending]
