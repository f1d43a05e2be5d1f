"""What a `uses:` stand-in is given and how it reports: inputs, the runner's state, failures."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.rehearsal.commands import run_argv
from tests.rehearsal.errors import RehearsalError
from tests.rehearsal.model import Services
from tests.rehearsal.origin import Origin


class ActionError(Exception):
    """The stand-in failed the way the real action would: the step fails with this message."""


class ArtifactStore:
    """Artifacts as folders: <root>/<run id>/<name>/…, shared by the runs of one scenario."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, run_id: int, name: str) -> Path:
        """Where an artifact of a run lives (whether or not it exists)."""
        return self.root / str(run_id) / name

    def names(self, run_id: int) -> list[str]:
        """The artifacts a run uploaded."""
        run = self.root / str(run_id)
        return sorted(path.name for path in run.iterdir()) if run.is_dir() else []


@dataclass
class JobState:
    """What a job's earlier steps left on the runner for later stand-ins."""

    buildx_driver: str | None = None
    logins: dict[str, str] = field(default_factory=dict)  # registry -> username


@dataclass
class ActionContext:
    """Everything a stand-in may use: its inputs, the step's environment and the run."""

    action: str
    inputs: dict[str, str]
    env: dict[str, str]
    workspace: Path
    temp: Path
    origin: Origin
    github: dict[str, Any]
    permissions: dict[str, str]
    services: Services
    artifacts: ArtifactStore
    state: JobState
    outputs: dict[str, str] = field(default_factory=dict)
    env_updates: dict[str, str] = field(default_factory=dict)
    path_entries: list[str] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)

    def log(self, line: str) -> None:
        """Add a line to the step's log."""
        self.log_lines.append(line)

    def text(self, name: str, default: str = "") -> str:
        """A string input (empty means not given, as in @actions/core)."""
        value = self.inputs.get(name, "")
        return value if value != "" else default

    def flag(self, name: str, *, default: bool) -> bool:
        """A boolean input, accepting exactly what core.getBooleanInput accepts."""
        value = self.inputs.get(name, "")
        if value == "":
            return default
        if value in ("true", "True", "TRUE"):
            return True
        if value in ("false", "False", "FALSE"):
            return False
        raise ActionError(f"Input does not meet YAML 1.2 'Core Schema' specification: {name}")

    def lines(self, name: str) -> list[str]:
        """A list input: one item a line (commas too, as docker's actions accept)."""
        items: list[str] = []
        for line in self.inputs.get(name, "").splitlines():
            items.extend(part.strip() for part in line.split(","))
        return [item for item in items if item]

    def run(self, argv: list[str], *, cwd: Path | None = None, what: str = "") -> str:
        """Run a program; its output goes to the log; a non-zero exit fails the step."""
        self.log("$ " + " ".join(argv))
        done = run_argv(argv, env=self.env, cwd=cwd or self.workspace, timeout=None)
        self.log(done.log.rstrip("\n"))
        if done.code != 0:
            raise ActionError(f"{what or argv[0]} failed with exit code {done.code}")
        return done.log

    def tool(self, name: str) -> str:
        """A program on the step's PATH, or a failed step naming it."""
        found = shutil.which(name, path=self.env.get("PATH"))
        if found is None:
            raise ActionError(f"{name} is not installed on this machine")
        return found

    def has_permission(self, scope: str, level: str) -> bool:
        """Whether the job's GITHUB_TOKEN has a permission (write implies read)."""
        granted = self.permissions.get(scope, "none")
        return granted == "write" or (level == "read" and granted == "read")


@dataclass(frozen=True)
class StandIn:
    """A local stand-in for an action: the inputs the real action declares, and its effect."""

    inputs: frozenset[str]
    run: Callable[[ActionContext], None]
    aliases: dict[str, str] = field(default_factory=dict)  # old input name -> new name

    def check_inputs(self, action: str, given: dict[str, str]) -> dict[str, str]:
        """Inputs with aliases resolved; an input the real action does not declare is an error."""
        resolved: dict[str, str] = {}
        for name, value in given.items():
            key = self.aliases.get(name, name)
            if key not in self.inputs:
                raise RehearsalError(
                    f"{action}: unexpected input {name!r} (declared: {sorted(self.inputs)})"
                )
            resolved[key] = value
        return resolved


def action_name(uses: str) -> str:
    """`owner/repo[/path]@ref` -> `owner/repo[/path]`, lower case; local and docker refused."""
    if uses.startswith(("./", "docker://")):
        raise RehearsalError(f"uses: {uses} (local and docker actions) is not modelled")
    name, _, ref = uses.partition("@")
    if not ref:
        raise RehearsalError(f"uses: {uses} has no @ref")
    return name.lower()
