"""The git adapter: every git call goes through here, as an argument list, never a shell."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dexops.errors import GitError, PushRejectedError, ToolMissingError

# `<commit id>:<path>`: a name whose object can never change.
_FIXED_OBJECT = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?:")

# Messages git prints when a push loses a race rather than being refused by policy.
_NON_FAST_FORWARD = (
    "non-fast-forward",
    "fetch first",
    "[rejected]",
    "stale info",
    # Two pushes to the same ref at once: the loser cannot lock it.
    "cannot lock ref",
    "failed to update ref",
    "incorrect old value",
)


@dataclass(frozen=True, slots=True)
class Completed:
    """Exit code and output of one git command."""

    code: int
    stdout: str
    stderr: str


def first_line(text: str) -> str:
    """The line of git's output that says what went wrong."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    # git puts the useful part ("fatal: …", "error: …") last after hints.
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line
    return lines[-1] if lines else ""


def _push_reason(stdout: str, stderr: str) -> str:
    """Why a push was refused: the remote's own words (a hook, branch protection) first."""
    # `--porcelain` prints `!<TAB>src:dst<TAB>[remote rejected] (why)` for each refused ref;
    # hooks and GitHub explain themselves on `remote:` lines. git's own last line
    # ("failed to push some refs") says neither.
    refused = [line.split("\t")[-1].strip() for line in stdout.splitlines() if line[:1] == "!"]
    remote = [
        text
        for line in stderr.splitlines()
        if line.startswith("remote:") and (text := line.removeprefix("remote:").strip())
    ]
    parts = [*refused[:1], *remote[:1]]
    return ": ".join(parts) if parts else (first_line(stderr) or first_line(stdout))


@dataclass(frozen=True, slots=True)
class HeadState:
    """HEAD as one `git rev-parse` reads it."""

    commit: str
    branch: str | None  # None when HEAD is detached
    parents: tuple[str, ...]  # the first parent first; none for a root commit


@dataclass(frozen=True)
class Tip:
    """A ref's commit, and files read at it (None: the file is not there)."""

    commit: str
    files: Mapping[str, bytes | None]


def _drained(pipe: IO[bytes] | None) -> str:
    """What is left in a pipe, as text."""
    return "" if pipe is None else pipe.read().decode(errors="replace")


class Git:
    """A git working tree at `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.executable = shutil.which("git")
        # Objects read by `<commit id>:<path>`, a name whose object never changes (None: absent).
        self._fixed: dict[str, bytes | None] = {}
        self._prefix: str | None = None
        self._shallow: bool | None = None  # `is_shallow`'s answer, once asked

    def binary(self) -> str:
        """The git executable; `ToolMissingError` when git is not installed."""
        if self.executable is None:
            raise ToolMissingError("git is not installed (apt-get install git)")
        return self.executable

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment git runs in: ours, made parse-stable and prompt-free, plus `extra`."""
        env = dict(os.environ)
        # Parse-stable messages and no credential prompts, ever: CI has no terminal.
        env.update({"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"})
        env.update(_quiet_config(env))
        if extra:
            env.update(extra)
        return env

    def call(
        self,
        *args: str,
        input_text: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Completed:
        """Run git and return what happened, whatever the exit code."""
        proc = subprocess.run(
            [self.binary(), *args],
            cwd=self.root,
            input=input_text,
            capture_output=True,
            text=True,
            # Commit messages and files may hold any bytes; never fail on decoding them.
            errors="replace",
            env=self.env(env),
            check=False,
        )
        return Completed(proc.returncode, proc.stdout, proc.stderr)

    def run(
        self,
        *args: str,
        input_text: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> str:
        """Run git; return stdout without its final newline, or raise `GitError`."""
        done = self.call(*args, input_text=input_text, env=env)
        if done.code != 0:
            detail = first_line(done.stderr) or f"exit status {done.code}"
            raise GitError(f"git {args[0]} failed: {detail}")
        return done.stdout.removesuffix("\n")

    def read_objects(self, names: Sequence[str]) -> dict[str, bytes]:
        """The contents of many objects (`<rev>:<path>` or ids) from one `git cat-file --batch`.

        Names that do not resolve are left out of the result. Objects named by a commit id
        and a path are read once per process.
        """
        result: dict[str, bytes] = {}
        wanted = []
        for name in dict.fromkeys(names):
            if name not in self._fixed:
                wanted.append(name)
            elif (data := self._fixed[name]) is not None:
                result[name] = data
        if not wanted:
            return result
        binary = self.binary()
        proc = subprocess.run(
            [binary, "cat-file", "--batch"],
            cwd=self.root,
            input=b"".join(map(batch_line, wanted)),
            capture_output=True,
            env=self.env(None),
            check=False,
        )
        if proc.returncode != 0:
            detail = first_line(proc.stderr.decode(errors="replace"))
            raise GitError(f"git cat-file failed: {detail or proc.returncode}")
        found = parse_batch(proc.stdout, wanted)
        self._keep(wanted, found)
        return result | found

    def _keep(self, names: Sequence[str], found: Mapping[str, bytes]) -> None:
        """Remember the objects named by a commit id (and which are absent): they never change."""
        for name in names:
            if _FIXED_OBJECT.match(name):
                self._fixed[name] = found.get(name)

    def read_at_tips(self, wanted: Sequence[tuple[str, str]]) -> dict[str, Tip | None]:
        """Each ref's commit and a file's bytes at that very commit, from one `git cat-file`.

        `wanted`: (ref, path) pairs. The process is asked in two rounds, the refs first, then
        the files by the commits they named, so a ref moving meanwhile cannot mix two tips.
        Refs that name no commit map to None. The files are kept as `read_objects` keeps
        them, so reading one again at that commit (a deploy's staging does) starts no git.
        """
        if not wanted:
            return {}
        for name in (part for pair in wanted for part in pair):
            batch_line(name)  # every name refused before git starts, not halfway through
        # No --buffer: git answers each request as it reads it, so the refs are a dialogue.
        with subprocess.Popen(
            [self.binary(), "cat-file", "--batch"],
            cwd=self.root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env(None),
        ) as proc:
            try:
                return self._tips_dialogue(proc, wanted)
            except (BrokenPipeError, ValueError):
                detail = first_line(_drained(proc.stderr))
                raise GitError(f"git cat-file failed: {detail or proc.poll()}") from None
            finally:
                if proc.poll() is None:  # stopped early (an error, Ctrl-C): git must not outlive it
                    proc.kill()
                # A request git died before reading stays buffered; closing must not send it
                # again, or the pipe's error would replace the one that says why git died.
                if proc.stdin is not None:
                    with contextlib.suppress(BrokenPipeError):
                        proc.stdin.close()

    def _tips_dialogue(
        self, proc: subprocess.Popen[bytes], wanted: Sequence[tuple[str, str]]
    ) -> dict[str, Tip | None]:
        if proc.stdin is None or proc.stdout is None:  # pragma: no cover - both are pipes
            raise GitError("git cat-file's pipes were not opened")
        stdin, stdout = proc.stdin, proc.stdout
        commits: dict[str, str | None] = {}
        for ref in dict.fromkeys(ref for ref, _ in wanted):
            stdin.write(batch_line(f"{ref}^{{commit}}"))
            stdin.flush()
            header = stdout.readline().split()
            commits[ref] = None  # `<name> missing`
            if len(header) == 3 and header[1] == b"commit":
                stdout.read(int(header[2]) + 1)  # the commit itself, and its newline
                commits[ref] = header[0].decode()
        files = {(ref, path): f"{commits[ref]}:{path}" for ref, path in wanted if commits[ref]}
        known = {name: self._fixed[name] for name in files.values() if name in self._fixed}
        asked = [name for name in dict.fromkeys(files.values()) if name not in known]
        stdin.write(b"".join(map(batch_line, asked)))
        stdin.close()
        read = parse_batch(stdout.read(), asked)
        if proc.wait() != 0:
            detail = first_line(_drained(proc.stderr))
            raise GitError(f"git cat-file failed: {detail or proc.returncode}")
        self._keep(asked, read)
        found = {**known, **read}
        tips: dict[str, Tip | None] = {}
        for ref, commit in commits.items():
            at = {path: found.get(name) for (r, path), name in files.items() if r == ref}
            tips[ref] = None if commit is None else Tip(commit, at)
        return tips

    def ok(self, *args: str) -> bool:
        """Whether a git command succeeds (for questions like `merge-base --is-ancestor`)."""
        return self.call(*args).code == 0

    # --- the state of the working tree -------------------------------------------------

    def require_repository(self) -> None:
        """Fail unless the root is a git working tree with at least one commit."""
        self.head()

    def head(self) -> str:
        """The full commit hash of HEAD; fails unless the root is a working tree with a commit."""
        # One process answers both questions: git prints `true`/`false`, then HEAD's commit.
        done = self.call(
            "rev-parse", "--is-inside-work-tree", "--verify", "--quiet", "HEAD^{commit}"
        )
        inside, _, commit = done.stdout.partition("\n")
        if inside.strip() != "true":
            raise GitError(f"{self.root} is not a git repository")
        if done.code != 0 or not commit.strip():
            raise GitError(f"{self.root} has no commits yet")
        return commit.strip()

    def current_branch(self) -> str:
        """The checked-out branch; an error when HEAD is detached."""
        return self.head_and_branch()[1]

    def head_and_branch(self) -> tuple[str, str]:
        """HEAD's commit and the checked-out branch (one git process); an error when detached."""
        state = self.head_state()
        if state.branch is None:
            raise GitError(f"HEAD is detached in {self.root}; check out a branch first")
        return state.commit, state.branch

    def head_state(self) -> HeadState:
        """HEAD's commit, branch and parents (one git process); fails outside a repository.

        The same process says whether the clone is shallow, so `is_shallow` asks no more.
        """
        # `HEAD^@` prints each parent (none for a root commit, or past a shallow boundary);
        # `--symbolic-full-name HEAD` then prints the branch's ref, or `HEAD` when detached.
        done = self.call(
            "rev-parse",
            "--is-inside-work-tree",
            "--is-shallow-repository",
            "HEAD^{commit}",
            "HEAD^@",
            "--symbolic-full-name",
            "HEAD",
        )
        lines = done.stdout.splitlines()
        if done.code != 0 or len(lines) < 4 or lines[0] != "true":
            self.head()  # says precisely why: not a repository, or no commits
            raise GitError(f"git rev-parse failed: {first_line(done.stderr) or done.code}")
        self._shallow = lines[1] == "true"
        ref = lines[-1]
        branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
        return HeadState(commit=lines[2], branch=branch, parents=tuple(lines[3:-1]))

    def dirty_paths(self) -> list[str]:
        """Tracked files with uncommitted changes (untracked files do not block a release)."""
        out = self.run("status", "--porcelain", "--untracked-files=no")
        return [line[3:] for line in out.splitlines() if line]

    def require_clean(self) -> None:
        """Fail when tracked files have uncommitted changes."""
        dirty = self.dirty_paths()
        if dirty:
            shown = ", ".join(dirty[:3]) + (" …" if len(dirty) > 3 else "")
            raise GitError(f"working tree has uncommitted changes ({shown}); commit or stash them")

    def resolve(self, rev: str) -> str | None:
        """The commit a revision names, or None when it names nothing."""
        if rev.startswith("-"):
            raise GitError(f"revision {rev!r} may not start with '-'")
        done = self.call(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"
        )
        return done.stdout.strip() if done.code == 0 else None

    def require_commit(self, rev: str) -> str:
        """The commit a revision names, or an error naming it."""
        commit = self.resolve(rev)
        if commit is None:
            raise GitError(f"{rev!r} does not name a commit in {self.root}")
        return commit

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether `ancestor` is reachable from `descendant`."""
        return self.ok("merge-base", "--is-ancestor", ancestor, descendant)

    def show_file(self, rev: str, path: str) -> str | None:
        """A file's text at a revision, or None when it does not exist there."""
        name = f"{rev}:{path}"
        if _FIXED_OBJECT.match(name):
            data = self.read_objects([name]).get(name)
            return None if data is None else data.decode("utf-8", "replace")
        done = self.call("show", relative_object(name))
        return done.stdout if done.code == 0 else None

    def changed_paths(self, base: str, head: str, paths: Sequence[str]) -> list[str]:
        """Files under `paths` that differ between two commits."""
        # `--relative`: names as the paths were given, from the root, not git's top level.
        out = self.run("diff", "--name-only", "--relative", base, head, "--", *paths)
        return [line for line in out.splitlines() if line]

    def prefix(self) -> str:
        """Where the root lies inside the repository (`apps/a/`; empty at the top level)."""
        if self._prefix is None:
            self._prefix = self.run("rev-parse", "--show-prefix")
        return self._prefix

    def is_shallow(self) -> bool:
        """Whether this clone's history is cut short (`git clone --depth`); git is asked once."""
        # Only a fetch that deepens changes the answer, and dexops deepens only by `unshallow`.
        if self._shallow is None:
            self._shallow = self.run("rev-parse", "--is-shallow-repository") == "true"
        return self._shallow

    def unshallow(self, remote: str, refspecs: Sequence[str]) -> Completed:
        """`git fetch --unshallow` of `refspecs` (the clone is whole after it succeeds)."""
        self._shallow = None
        return self.call("fetch", "--quiet", "--no-tags", "--unshallow", remote, *refspecs)

    def shallow_boundary(self) -> list[str]:
        """The commits whose parents a shallow clone lacks (empty when it is complete)."""
        path = Path(self.run("rev-parse", "--git-path", "shallow"))
        path = path if path.is_absolute() else self.root / path
        try:
            text = path.read_text(encoding="ascii")
        except FileNotFoundError:
            return []
        return [line.strip() for line in text.splitlines() if line.strip()]

    # --- tags ----------------------------------------------------------------------------

    def tags(self, pattern: str | None = None) -> list[str]:
        """Local tag names, optionally matching a glob."""
        out = self.run("tag", "--list", *([pattern] if pattern else []))
        return [line for line in out.splitlines() if line]

    def head_and_tags(self) -> tuple[str, dict[str, str]]:
        """HEAD's commit and every local tag mapped to its commit, from one `git show-ref`."""
        done = self.call("show-ref", "--head", "--dereference", "--tags")
        first, _, rest = done.stdout.partition("\n")
        head, _, name = first.partition(" ")
        if name != "HEAD":
            # Not a repository, or no commits yet: `head` says which.
            self.head()
            raise GitError(f"git show-ref failed: {first_line(done.stderr) or done.code}")
        return head, _peeled_tags(rest.splitlines(), separator=" ")

    def tags_with_commits(self, pattern: str | None = None) -> dict[str, str]:
        """Local tag names mapped to the commit each points at (one git process)."""
        return parse_tag_refs(self.run(*tag_refs_command(*([pattern] if pattern else []))))

    def branches_containing(self, commit: str, remote: str = "origin") -> list[str]:
        """Local branches and `remote`'s branches (as fetched) whose history holds `commit`."""
        return parse_branch_refs(self.run(*containing_branches_command(commit, remote)), remote)

    def tag_commit(self, name: str) -> str | None:
        """The commit a local tag points at, or None when there is no such tag."""
        return self.resolve(f"refs/tags/{name}")

    def check_ref_name(self, name: str) -> None:
        """Refuse a tag or branch name git would not accept (or that looks like an option)."""
        if name.startswith("-") or not valid_ref_name(f"refs/tags/{name}"):
            raise GitError(f"{name!r} is not a valid git ref name")

    # --- the remote ------------------------------------------------------------------------

    def remote_url(self, remote: str = "origin") -> str:
        """The fetch URL of a remote; an error when it is not configured."""
        done = self.call("remote", "get-url", remote)
        if done.code != 0:
            raise GitError(f"no remote {remote!r} is configured in {self.root}")
        return done.stdout.strip()

    def remote_default_branch(self, remote: str = "origin") -> str | None:
        """The branch the remote's HEAD points at (asks the remote); None when it has none."""
        out = self.run("ls-remote", "--symref", "--end-of-options", remote, "HEAD")
        for line in out.splitlines():
            if line.startswith("ref: refs/heads/") and line.endswith("\tHEAD"):
                return line.removeprefix("ref: refs/heads/").removesuffix("\tHEAD")
        return None

    def remote_tags(self, remote: str = "origin") -> dict[str, str]:
        """Tags on the remote mapped to their commits (peeled)."""
        return _peeled_tags(self.run("ls-remote", "--tags", remote).splitlines())

    def remote_tags_and_heads(
        self, remote: str = "origin"
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Tags (peeled, as `remote_tags`) and branch refs (`refs/heads/…`) of one `ls-remote`."""
        return parse_remote_refs(self.run(*REMOTE_REFS, remote))

    def push(self, remote: str, *refspecs: str, atomic: bool = True) -> None:
        """Push refspecs; a refused push raises `PushRejectedError` saying whether it raced."""
        args = ["push", "--porcelain", *(["--atomic"] if atomic else []), remote, *refspecs]
        done = self.call(*args)
        if done.code == 0:
            return
        text = f"{done.stdout}\n{done.stderr}"
        raced = any(marker in text for marker in _NON_FAST_FORWARD) and "hook declined" not in text
        reason = _push_reason(done.stdout, done.stderr)
        raise PushRejectedError(
            f"push of {' '.join(refspecs)} to {remote} was rejected: {reason}",
            non_fast_forward=raced,
        )


# What a task's git never starts on its own: a read (a fetch, above all) that spawns
# `git maintenance run --auto` or `git gc --auto` repacks the user's repository behind their
# back, holds its locks and outlives the task. Maintenance is the repository owner's call.
_QUIET = (("maintenance.auto", "false"), ("gc.auto", "0"))


def _quiet_config(env: Mapping[str, str]) -> dict[str, str]:
    """`GIT_CONFIG_*` entries (git 2.31+) that add `_QUIET` after any the caller set."""
    try:
        count = int(env.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        count = 0
    extra = {"GIT_CONFIG_COUNT": str(count + len(_QUIET))}
    for offset, (key, value) in enumerate(_QUIET):
        extra[f"GIT_CONFIG_KEY_{count + offset}"] = key
        extra[f"GIT_CONFIG_VALUE_{count + offset}"] = value
    return extra


# Characters git-check-ref-format(1) refuses anywhere in a ref name (rules 4, 5 and 10).
_REF_FORBIDDEN = frozenset(" ~^:?*[\\\x7f") | {chr(code) for code in range(32)}


def batch_line(name: str) -> bytes:
    """A `git cat-file --batch` request for `name` (read from the root, see `relative_object`)."""
    # One name per line is the protocol: a newline would smuggle in another request.
    if "\n" in name:
        raise GitError(f"{name!r} does not name a git object")
    return f"{relative_object(name)}\n".encode()


def relative_object(name: str) -> str:
    """`<rev>:<path>` with the path read from the root (`./`), as every config path is."""
    # git reads `<rev>:<path>` from the top level but `<rev>:./<path>` from the working
    # directory, which is the root holding [tool.dexops]: the same at the top level.
    rev, sep, path = name.partition(":")
    if not sep or not rev or path.startswith(("./", "../", "/")):
        return name
    return f"{rev}:./{path}"


def valid_ref_name(ref: str) -> bool:
    """Whether git accepts `ref` (a full name such as `refs/tags/v1`) as a reference name.

    The rules of git-check-ref-format(1), checked here instead of by a git process per name.
    """
    if not ref or ref == "@" or "@{" in ref or ".." in ref or ref.endswith((".", "/")):
        return False
    if ref.startswith("/") or "//" in ref or "/" not in ref or not _REF_FORBIDDEN.isdisjoint(ref):
        return False
    return all(not part.startswith(".") and not part.endswith(".lock") for part in ref.split("/"))


def tag_refs_command(*patterns: str, merged: str | None = None) -> list[str]:
    """The git command whose output `parse_tag_refs` reads: local tags matching globs.

    `merged`: only the tags reachable from this commit.
    """
    fmt = "%(refname:strip=2) %(objectname) %(*objectname)"
    if merged is not None and merged.startswith("-"):
        raise GitError(f"revision {merged!r} may not start with '-'")
    reachable = [f"--merged={merged}"] if merged is not None else []
    refs = [f"refs/tags/{pattern}" for pattern in patterns] or ["refs/tags"]
    return ["for-each-ref", f"--format={fmt}", *reachable, *refs]


def parse_tag_refs(out: str) -> dict[str, str]:
    """Tag names mapped to the commit each points at (annotated tags peeled)."""
    result: dict[str, str] = {}
    for line in out.splitlines():
        name, obj, peeled = [*line.split(" "), ""][:3]
        result[name] = peeled or obj
    return result


def containing_branches_command(commit: str, remote: str = "origin") -> list[str]:
    """The git command whose output `parse_branch_refs` reads: branches holding `commit`."""
    if commit.startswith("-"):
        raise GitError(f"revision {commit!r} may not start with '-'")
    return [
        "for-each-ref", "--format=%(refname)", f"--contains={commit}",
        "refs/heads", f"refs/remotes/{remote}",
    ]  # fmt: skip


def parse_branch_refs(out: str, remote: str = "origin") -> list[str]:
    """Branch names of `refs/heads/…` and `refs/remotes/<remote>/…` lines, once each."""
    names: list[str] = []
    for ref in out.splitlines():
        name = ref.removeprefix("refs/heads/").removeprefix(f"refs/remotes/{remote}/")
        if ref != f"refs/remotes/{remote}/HEAD" and name not in names:
            names.append(name)
    return names


# The command whose output `parse_remote_refs` reads (the remote's name follows).
REMOTE_REFS = ("ls-remote", "--tags", "--heads")


def parse_remote_refs(out: str) -> tuple[dict[str, str], dict[str, str]]:
    """`ls-remote --tags --heads` output: tags (peeled) and branch refs (`refs/heads/…`)."""
    tags: list[str] = []
    heads: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref.startswith("refs/heads/"):
            heads[ref] = sha
        else:
            tags.append(line)
    return _peeled_tags(tags), heads


def parse_batch(out: bytes, names: Sequence[str]) -> dict[str, bytes]:
    """`git cat-file --batch` output for `names` (asked in that order); absent names left out."""
    result: dict[str, bytes] = {}
    pos = 0
    for name in names:
        newline = out.index(b"\n", pos)
        header = out[pos:newline]
        pos = newline + 1
        # `<name> missing` (or `ambiguous`) repeats the name asked, which may hold spaces;
        # a found object's header is `<id> <type> <size>`.
        if header.endswith((b" missing", b" ambiguous")):
            continue
        size = int(header.rsplit(b" ", 1)[1])
        result[name] = out[pos : pos + size]
        pos += size + 1  # the object is followed by a newline
    return result


def _peeled_tags(lines: Sequence[str], separator: str = "\t") -> dict[str, str]:
    """`ls-remote --tags` (or `show-ref -d`) lines as tag names mapped to commits (peeled)."""
    plain: dict[str, str] = {}
    peeled: dict[str, str] = {}
    for line in lines:
        obj, ref = line.split(separator, 1)
        name = ref.removeprefix("refs/tags/")
        if name.endswith("^{}"):
            peeled[name[:-3]] = obj
        else:
            plain[name] = obj
    return {name: peeled.get(name, obj) for name, obj in plain.items()}


def signing_args(*, sign: bool) -> tuple[str, ...]:
    """`-S` for `git commit`/`commit-tree` when the repository signs (`sign = true`).

    git's own `gpg.format` (openpgp, x509 or ssh) and `user.signingkey` decide how.
    """
    return ("-S",) if sign else ()
