"""GitHub Actions integration: run context, outputs, step summaries, masks and annotations.

The one module that reads GitHub Actions' variables (`GITHUB_*`); everything else asks it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dexops.errors import DexopsError
from dexops.secrets import known_secrets, mask


def active() -> bool:
    """Whether we run inside a GitHub Actions job."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


@dataclass(frozen=True)
class RunContext:
    """What the environment says about the GitHub Actions run (and repository) we are in."""

    active: bool = False
    server_url: str | None = None
    api_url: str | None = None
    repository: str | None = None  # owner/name
    run_id: str | None = None
    event_name: str = ""
    ref_type: str | None = None
    ref_name: str | None = None
    step_summary: str | None = None  # the summary file's path

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> RunContext:
        """Read the variables once (from `environ`, else the process environment)."""
        env = os.environ if environ is None else environ
        return cls(
            active=env.get("GITHUB_ACTIONS") == "true",
            server_url=env.get("GITHUB_SERVER_URL") or None,
            api_url=env.get("GITHUB_API_URL") or None,
            repository=env.get("GITHUB_REPOSITORY") or None,
            run_id=env.get("GITHUB_RUN_ID") or None,
            event_name=env.get("GITHUB_EVENT_NAME", ""),
            ref_type=env.get("GITHUB_REF_TYPE") or None,
            ref_name=env.get("GITHUB_REF_NAME") or None,
            step_summary=env.get("GITHUB_STEP_SUMMARY") or None,
        )

    @property
    def repository_url(self) -> str | None:
        """The repository's web address, when the server and repository are named."""
        if self.server_url and self.repository:
            return f"{self.server_url.rstrip('/')}/{self.repository}"
        return None

    @property
    def run_url(self) -> str | None:
        """The link to the run, when the server, repository and run id are named."""
        if self.repository_url and self.run_id:
            return f"{self.repository_url}/actions/runs/{self.run_id}"
        return None

    @property
    def pull_request(self) -> bool:
        """Whether a pull request event started the run."""
        return self.event_name.startswith("pull_request")

    @property
    def branch(self) -> str | None:
        """The branch the run is for (None for tags and pull requests' merge refs)."""
        return self.ref_name if self.ref_type == "branch" else None


def run_context(environ: Mapping[str, str] | None = None) -> RunContext:
    """The run context, read now."""
    return RunContext.read(environ)


def run_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The link to the current GitHub Actions run, when the environment names one."""
    return RunContext.read(environ).run_url


def token(environ: Mapping[str, str] | None = None) -> str | None:
    """The GitHub token: `GITHUB_TOKEN`, else `GH_TOKEN` (the gh CLI's), else None."""
    env = os.environ if environ is None else environ
    return env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or None


def add_masks() -> None:
    """Ask the runner to mask every secret value we know of in its logs."""
    if active():
        # stderr: the runner reads workflow commands from both streams, and stdout may be JSON.
        # A workflow command is one line: a multi-line secret is registered line by line
        # (known_secrets lists every line), never written whole.
        for secret in known_secrets():
            if "\n" not in secret and "\r" not in secret:
                sys.stderr.write(f"::add-mask::{secret}\n")


def set_output(name: str, value: object) -> None:
    """Append `name=value` to `$GITHUB_OUTPUT` (JSON for non-strings, heredoc for newlines)."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    text = mask(text)
    if "\n" in text:
        delimiter = f"dexops_{os.urandom(16).hex()}"
        _append("GITHUB_OUTPUT", path, f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
    else:
        _append("GITHUB_OUTPUT", path, f"{name}={text}\n")


def _append(variable: str, path: str, text: str) -> None:
    """Append to the file a runner variable names; any OS failure is one line naming it."""
    try:
        with Path(path).open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise DexopsError(
            f"cannot write ${variable} ({path}): {exc.strerror or type(exc).__name__}"
        ) from None


def add_summary(markdown: str) -> None:
    """Append Markdown to `$GITHUB_STEP_SUMMARY`."""
    path = RunContext.read().step_summary
    if not path:
        return
    _append("GITHUB_STEP_SUMMARY", path, mask(markdown).rstrip("\n") + "\n\n")


def _property(value: str) -> str:
    """A workflow command's property value, escaped as the runner reads it."""
    escaped = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return escaped.replace(":", "%3A").replace(",", "%2C")


def _workspace_path(file: str) -> str:
    """`file` relative to the job's workspace, as annotations name files."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    path = Path(file)
    if workspace and path.is_absolute() and path.is_relative_to(workspace):
        return path.relative_to(workspace).as_posix()
    return path.as_posix()


def error_annotation(message: str, *, file: str | None = None, line: int | None = None) -> None:
    """Print an `::error::` annotation for the job's page, on the file and line it is about."""
    if active():
        where = []
        if file:
            where.append(f"file={_property(mask(_workspace_path(file)))}")
            if line is not None:
                where.append(f"line={line}")
        properties = f" {','.join(where)}" if where else ""
        sys.stdout.write(f"::error{properties}::{mask(message)}\n")
        sys.stdout.flush()


@contextlib.contextmanager
def group(title: str, *, stdout: bool = False) -> Iterator[None]:
    """Fold a tool's long output into one `::group::` block of the job's log under Actions.

    The markers go where the grouped lines go (the runner reads workflow commands on both
    streams, but keeps two streams' lines in order only within each): stderr, where the
    tools' output goes, or stdout with `stdout=True`.
    """
    if not active():
        yield
        return
    stream = sys.stdout if stdout else sys.stderr
    stream.write(f"::group::{mask(title)}\n")
    stream.flush()
    try:
        yield
    finally:
        stream.write("::endgroup::\n")
        stream.flush()


def _event() -> dict[str, object] | None:
    """The JSON payload of the event that started the job, when there is one."""
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not active() or not path or not Path(path).is_file():
        return None
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # nested too deeply counts as unreadable
        return None
    return event if isinstance(event, dict) else None


def event_name() -> str | None:
    """The name of the event that started the job (`push`, `workflow_run`, …)."""
    return os.environ.get("GITHUB_EVENT_NAME") if active() else None


def _field(event: dict[str, object], *path: str) -> str | None:
    value: object = event
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value if isinstance(value, str) and value.strip("0") else None


def _is_pull_request(name: str | None, event: dict[str, object]) -> bool:
    if name is not None:
        return name.startswith("pull_request")
    return isinstance(event.get("pull_request"), dict)


def event_base() -> str | None:
    """The commit a push or pull request event compares against, when the event says."""
    event = _event()
    if event is None:
        return None
    if _is_pull_request(event_name(), event):
        return _field(event, "pull_request", "base", "sha")
    # A new branch's first push has before = 0000…; there is no base then.
    return _field(event, "before") if event_name() in (None, "push") else None


def event_head() -> str | None:
    """The event's head commit, from the field GitHub documents for that event.

    pull_request: `pull_request.head.sha` (never the merge commit GITHUB_SHA names);
    push: `after`; workflow_run: `workflow_run.head_sha` (GITHUB_SHA is the default
    branch's tip there); release and workflow_dispatch (and others): GITHUB_SHA, which
    is the tagged commit for a release and the dispatched ref's tip otherwise.
    """
    event = _event()
    if event is None:
        return None
    name = event_name()
    if _is_pull_request(name, event):
        return _field(event, "pull_request", "head", "sha")
    if name == "workflow_run":
        return _field(event, "workflow_run", "head_sha")
    if name in (None, "push") and "after" in event:
        return _field(event, "after")
    return os.environ.get("GITHUB_SHA") or None


def event_branch() -> str | None:
    """The branch the event is about: `workflow_run.head_branch`, else a branch ref's name."""
    if not active():
        return None
    event = _event()
    if event_name() == "workflow_run" and event is not None:
        return _field(event, "workflow_run", "head_branch")
    if os.environ.get("GITHUB_REF_TYPE") == "branch":
        return os.environ.get("GITHUB_REF_NAME") or None
    return None


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Render a GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return mask("\n".join(lines)) + "\n"
