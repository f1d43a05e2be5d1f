"""Generated delivery histories whose metrics are known by construction, and a runs fake.

`DeliveryHistory` writes a real git repository through `git fast-import` (fast enough for
the 20,000-commit benchmark): feature branches merged into main, direct commits, overlay
commits with dexops trailers for two environments on main, rollbacks and release tags.
While it writes, it records the truth: every change's lead time per environment, every
deployment, failure and restore time, computed from how the history was built.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.fixtures_github import GitHubFake
from tests.gitrepo import GIT_ENV

PYPROJECT = """\
[project]
name = "shop"
version = "1.0.0"

[tool.dexops]
default-branch = "main"

[tool.dexops.components.shop]
kind = "app"
path = "."
watch = ["src"]
tag-prefix = "shop-v"
image = "ghcr.io/example/shop"

[tool.dexops.components.corelib]
kind = "library"
path = "lib"
tag-prefix = "corelib-v"

[tool.dexops.environments.stage]
overlay = "deploy/stage"
branch = "main"

[tool.dexops.environments.prod]
overlay = "deploy/prod"
branch = "main"
promote-from = "stage"
"""

ENVS = ("stage", "prod")


def kustomization(tag: str) -> str:
    """The overlay file holding one image tag."""
    return (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"images:\n  - name: shop\n    newName: ghcr.io/example/shop\n    newTag: {tag}\n"
    )


@dataclass
class EnvTruth:
    """What one environment's figures must be, recorded while the history is written."""

    deploys: list[int] = field(default_factory=list)
    lead_times: dict[int, list[int]] = field(default_factory=dict)  # deploy time -> leads
    restored: dict[int, int] = field(default_factory=dict)  # failed deploy time -> seconds
    rollbacks: list[int] = field(default_factory=list)
    # (mark, commit time) of changes not yet deployed here. Features merge into main at once,
    # so a change is in an image exactly when its mark is not after the image's commit.
    pending: list[tuple[int, int]] = field(default_factory=list)
    tag: str | None = None


class DeliveryHistory:
    """A repository written commit by commit through one `git fast-import` process."""

    def __init__(self, path: Path, start: int) -> None:
        self.path = path
        self.clock = start
        path.mkdir(parents=True)
        subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(path)], check=True)
        for key, value in (("user.name", "Dex Tester"), ("user.email", "tester@example.com")):
            subprocess.run(["git", "-C", str(path), "config", key, value], check=True)
        self._proc = subprocess.Popen(
            ["git", "fast-import", "--quiet", "--cat-blob-fd=1", "--done"],
            cwd=path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, **GIT_ENV},
        )
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._in: IO[bytes] = self._proc.stdin
        self._out: IO[bytes] = self._proc.stdout
        self._mark = 0
        self._counter = 0
        self.main: int | None = None
        self.truth = {env: EnvTruth() for env in ENVS}
        self.tags: dict[str, int] = {}  # name -> the date the metrics must read
        self.times: dict[int, int] = {}  # mark -> commit time
        self.commits = 0
        root = self._commit(
            "refs/heads/main",
            "chore: initial import",
            None,
            files={
                "pyproject.toml": PYPROJECT,
                "lib/README.md": "corelib\n",
                "src/shop/__init__.py": "",
                **{
                    f"deploy/{env}/kustomization.yaml": kustomization("sha-00000000")
                    for env in ENVS
                },
            },
        )
        self.main = root
        # The import writes both overlays without dexops trailers: unrecorded changes.
        self.unrecorded = [self.clock]
        root_tag = self.sha_tag(root)
        for env in ENVS:
            self.truth[env].tag = root_tag

    # --- the fast-import stream --------------------------------------------------------------

    def _data(self, text: str) -> bytes:
        raw = text.encode()
        return b"data %d\n" % len(raw) + raw + b"\n"

    def _commit(
        self,
        ref: str,
        message: str,
        parent: int | None,
        *,
        merge: int | None = None,
        files: dict[str, str] | None = None,
    ) -> int:
        self.clock += 60
        self._mark += 1
        who = f"Dex Tester <tester@example.com> {self.clock} +0000"
        chunks = [f"commit {ref}\nmark :{self._mark}\nauthor {who}\ncommitter {who}\n".encode()]
        chunks.append(self._data(message))
        if parent is not None:
            chunks.append(f"from :{parent}\n".encode())
        if merge is not None:
            chunks.append(f"merge :{merge}\n".encode())
        for name, text in (files or {}).items():
            chunks.append(f"M 100644 inline {name}\n".encode() + self._data(text))
        chunks.append(b"\n")
        self._in.write(b"".join(chunks))
        self.commits += 1
        self.times[self._mark] = self.clock
        return self._mark

    def sha(self, mark: int) -> str:
        """The full hash of a commit written so far."""
        self._in.write(f"get-mark :{mark}\n".encode())
        self._in.flush()
        return self._out.readline().decode().strip()

    def sha_tag(self, mark: int) -> str:
        """The immutable image tag of a commit."""
        return f"sha-{self.sha(mark)[:8]}"

    def _change(self, ref: str, parent: int, message: str) -> int:
        self._counter += 1
        mark = self._commit(
            ref, message, parent, files={"src/shop/changes.txt": f"{self._counter}\n"}
        )
        for env in ENVS:
            self.truth[env].pending.append((mark, self.clock))
        return mark

    # --- what a team does ----------------------------------------------------------------------

    def feature(self, commits: int, name: str = "feature") -> int:
        """A branch of `commits` changes off main, merged back with a merge commit."""
        assert self.main is not None
        # One scratch branch serves every feature: merged commits stay reachable from main.
        ref = "refs/heads/feature"
        tip = self.main
        for i in range(commits):
            tip = self._change(ref, tip, f"feat: {name} step {i}")
        self.main = self._commit("refs/heads/main", f"Merge branch '{name}'", self.main, merge=tip)
        return self.main

    def direct(self, message: str = "fix: hot fix") -> int:
        """One change committed straight onto main."""
        assert self.main is not None
        self.main = self._change("refs/heads/main", self.main, message)
        return self.main

    def _overlay(self, env: str, action: str, tag: str, previous: str | None) -> int:
        assert self.main is not None
        trailers = [
            f"Dexops-Action: {action}",
            f"Dexops-Environment: {env}",
            f"Dexops-Image-Tag: {tag}",
        ]
        if previous:
            trailers.append(f"Dexops-Previous-Tag: {previous}")
        message = f"chore({env}): {action} {tag}\n\n" + "\n".join(trailers) + "\n"
        self.main = self._commit(
            "refs/heads/main",
            message,
            self.main,
            files={f"deploy/{env}/kustomization.yaml": kustomization(tag)},
        )
        return self.main

    def deploy(self, env: str, image: int, action: str = "deploy") -> int:
        """Deploy the image built from commit `image`; everything pending reaches `env`."""
        truth = self.truth[env]
        tag = self.sha_tag(image)
        self._overlay(env, action, tag, truth.tag)
        truth.deploys.append(self.clock)
        truth.lead_times[self.clock] = [self.clock - t for m, t in truth.pending if m <= image]
        truth.pending = [(m, t) for m, t in truth.pending if m > image]
        truth.tag = tag
        return self.clock

    def rollback(self, env: str, to_tag: str, *, within: int) -> int:
        """Roll `env` back; the last deployment failed if this comes `within` seconds of it."""
        truth = self.truth[env]
        self._overlay(env, "rollback", to_tag, truth.tag)
        truth.rollbacks.append(self.clock)
        last = truth.deploys[-1]
        if self.clock - last <= within and last not in truth.restored:
            truth.restored[last] = self.clock - last
        truth.tag = to_tag
        return self.clock

    def wait(self, seconds: int) -> None:
        """Let time pass before the next commit."""
        self.clock += seconds

    def tag(self, name: str, *, annotated: bool = True) -> None:
        """Tag main's tip (annotated tags carry the tagger date the metrics read)."""
        assert self.main is not None
        if annotated:
            self.clock += 60
            who = f"Dex Tester <tester@example.com> {self.clock} +0000"
            self._in.write(f"tag {name}\nfrom :{self.main}\ntagger {who}\n".encode())
            self._in.write(self._data(f"release {name}"))
        else:
            self._in.write(f"reset refs/tags/{name}\nfrom :{self.main}\n\n".encode())
        self.tags[name] = self.clock if annotated else self.times[self.main]

    def finish(self) -> Path:
        """End the stream and check out main."""
        self._in.write(b"done\n")
        self._in.close()
        assert self._proc.wait() == 0, "git fast-import failed"
        self._out.close()
        subprocess.run(
            ["git", "-C", str(self.path), "checkout", "--quiet", "--force", "main"], check=True
        )
        return self.path


def generate(path: Path, *, start: int, batches: int, size: int) -> DeliveryHistory:
    """A steady history: each batch a merged feature, a stage deploy, prod every other batch.

    Every seventh stage deployment is rolled back two hours later.
    """
    history = DeliveryHistory(path, start)
    for batch in range(batches):
        merged = history.feature(size, name=f"feature-{batch}")
        if batch % 5 == 4:
            merged = history.direct()
        history.wait(3600)
        before = history.truth["stage"].tag
        history.deploy("stage", merged)
        if batch % 7 == 6 and before is not None:
            history.wait(7200)
            history.rollback("stage", before, within=7 * 86400)
        if batch % 2 == 1:
            history.wait(1800)
            history.deploy("prod", merged, action="promote")
        if batch % 10 == 9:
            history.tag(f"shop-v1.{batch // 10}.0")
        history.wait(86400)
    return history


# --- a GitHub fake that also lists workflow runs ------------------------------------------------


@dataclass
class RunsFake(GitHubFake):
    """`GitHubFake` plus `GET /repos/{owner}/{repo}/actions/runs` with Link pagination."""

    runs: list[dict[str, Any]] = field(default_factory=list)

    def add_run(
        self,
        name: str,
        conclusion: str | None,
        *,
        created: str,
        minutes: int,
        status: str = "completed",
    ) -> None:
        """A run created at `created` (ISO, UTC) that took `minutes`."""
        start = created.replace("Z", "")
        hour, minute = divmod(int(start[11:13]) * 60 + int(start[14:16]) + minutes, 60)
        updated = f"{start[:11]}{hour:02d}:{minute:02d}{start[16:]}Z"
        self.runs.append(
            {
                "id": len(self.runs) + 1,
                "name": name,
                "path": f".github/workflows/{name.lower()}.yml",
                "status": status,
                "conclusion": conclusion,
                "created_at": created,
                "run_started_at": created,
                "updated_at": updated,
            }
        )

    def _rest(self, method: str, path: str, args: Any, body: Any) -> Response:
        if method == "GET" and path == "/actions/runs":
            return self._runs(args)
        return super()._rest(method, path, args, body)

    def _runs(self, args: Any) -> Response:
        created = str(args.get("created", ""))
        match = re.fullmatch(r">=(\d{4}-\d{2}-\d{2})", created)
        if created and match is None:
            return Response(json.dumps({"message": "bad created"}), status=422)
        listed = [r for r in self.runs if match is None or r["created_at"][:10] >= match.group(1)]
        # GitHub lists newest first.
        listed.sort(key=lambda r: r["created_at"], reverse=True)
        per_page = int(args.get("per_page", 30))
        page = int(args.get("page", 1))
        pages = max(1, -(-len(listed) // per_page))
        chunk = listed[(page - 1) * per_page : page * per_page]
        links = []
        base = f"{self.url}/repos/{self.repository}/actions/runs?"
        query = {k: v for k, v in args.items() if k != "page"}
        if page < pages:
            links.append(f'<{base}{urlencode({**query, "page": page + 1})}>; rel="next"')
        links.append(f'<{base}{urlencode({**query, "page": pages})}>; rel="last"')
        body = {"total_count": len(listed), "workflow_runs": chunk}
        return Response(
            json.dumps(body),
            status=200,
            headers={"Link": ", ".join(links)},
            content_type="application/json",
        )


@pytest.fixture
def github_runs(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunsFake]:
    """A GitHub fake that serves workflow runs (and everything `github_fake` serves)."""
    fake = RunsFake(httpserver, monkeypatch)

    def handle(request: Request) -> Response:
        return fake.handle(request)

    httpserver.expect_request(re.compile(".*")).respond_with_handler(handle)
    yield fake
    httpserver.clear()
