"""Running a `run:` step's script, and reading the file commands it leaves behind."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from tests.rehearsal.errors import RehearsalError

SHELLS = {
    None: "bash -e {0}",  # no shell: given, bash found on PATH
    "bash": "bash --noprofile --norc -eo pipefail {0}",
    "sh": "sh -e {0}",
    "python": "python {0}",
}
EXTENSIONS = {"python": ".py"}


def parse_file_command(text: str, what: str) -> dict[str, str]:
    """`name=value` lines and `name<<DELIMITER` … `DELIMITER` blocks, as the runner reads them."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index].removesuffix("\r")
        index += 1
        if not line.strip():
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            name, value = line[:equals], line[equals + 1 :]
        elif heredoc >= 0:
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            if not name or not delimiter:
                raise RehearsalError(f"{what}: invalid heredoc line {line!r}")
            block: list[str] = []
            while True:
                if index >= len(lines):
                    raise RehearsalError(f"{what}: matching delimiter {delimiter!r} not found")
                inner = lines[index].removesuffix("\r")
                index += 1
                if inner == delimiter:
                    break
                block.append(inner)
            value = "\n".join(block)
        else:
            raise RehearsalError(f"{what}: invalid format {line!r}")
        if not name:
            raise RehearsalError(f"{what}: a line without a name: {line!r}")
        values[name] = value
    return values


@dataclass
class FileCommands:
    """A step's files: GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH, GITHUB_STEP_SUMMARY, GITHUB_STATE."""

    output: Path
    env: Path
    path: Path
    summary: Path
    state: Path

    @classmethod
    def create(cls, directory: Path) -> FileCommands:
        """Fresh empty files for one step."""
        directory.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        files = [
            directory / f"{kind}_{token}"
            for kind in ("set_output", "set_env", "add_path", "step_summary", "save_state")
        ]
        for file in files:
            file.write_text("", encoding="utf-8")
        return cls(*files)

    def variables(self) -> dict[str, str]:
        """The environment variables naming the files."""
        return {
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_ENV": str(self.env),
            "GITHUB_PATH": str(self.path),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_STATE": str(self.state),
        }

    def outputs(self) -> dict[str, str]:
        """What the step wrote to $GITHUB_OUTPUT."""
        return parse_file_command(self.output.read_text(encoding="utf-8"), "GITHUB_OUTPUT")

    def env_updates(self) -> dict[str, str]:
        """What the step wrote to $GITHUB_ENV."""
        return parse_file_command(self.env.read_text(encoding="utf-8"), "GITHUB_ENV")

    def path_entries(self) -> list[str]:
        """What the step wrote to $GITHUB_PATH, one directory a line."""
        text = self.path.read_text(encoding="utf-8")
        return [line.strip() for line in text.splitlines() if line.strip()]

    def summary_text(self) -> str:
        """What the step wrote to $GITHUB_STEP_SUMMARY."""
        return self.summary.read_text(encoding="utf-8")


@dataclass
class Completed:
    """A finished process: exit code, merged stdout+stderr, whether the timeout killed it."""

    code: int
    log: str
    timed_out: bool


def shell_argv(shell: str | None, script: Path) -> list[str]:
    """The command line for a shell: the known ones, or a custom template with {0}."""
    template = SHELLS.get(shell) if shell in SHELLS else shell
    if template is None or "{0}" not in template:
        raise RehearsalError(f"shell {shell!r} is not modelled (bash, sh, python or a '… {{0}}')")
    if template.split()[0] in ("pwsh", "powershell", "cmd"):
        raise RehearsalError(f"shell {shell!r} does not run on this Linux machine")
    return [part.replace("{0}", str(script)) for part in shlex.split(template)]


def run_script(
    script: str,
    *,
    shell: str | None,
    env: dict[str, str],
    cwd: Path,
    temp: Path,
    timeout: float | None,
) -> Completed:
    """Write the script to RUNNER_TEMP and run it as the runner does, killing it at the timeout."""
    if not cwd.is_dir():
        return Completed(1, f"Error: working directory {cwd} does not exist\n", timed_out=False)
    path = temp / f"{uuid.uuid4()}{EXTENSIONS.get(shell or '', '.sh')}"
    path.write_text(script, encoding="utf-8")
    return run_argv(shell_argv(shell, path), env=env, cwd=cwd, timeout=timeout)


def run_argv(
    argv: list[str], *, env: dict[str, str], cwd: Path, timeout: float | None
) -> Completed:
    """Run a process group with merged output; at the timeout kill the whole group."""
    with subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    ) as proc:
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            log = out.decode(errors="replace")
            return Completed(
                -9,
                log + f"\nError: the step exceeded its timeout of {timeout:.1f}s\n",
                timed_out=True,
            )
        return Completed(proc.returncode, out.decode(errors="replace"), timed_out=False)
