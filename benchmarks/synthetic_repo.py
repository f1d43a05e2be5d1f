"""A large monorepo in the example's shape, written in seconds by one `git fast-import`.

`generate(dest, commits=20_000, tags=400)` makes a repository whose history interleaves
library (`packages/dataenginex`) and app (`src/careerdex`) commits, with release tags of
both components: library tags include release candidates (`…rc1` before the final, the
order git's version sort gets wrong) and each library tag's commit sets that version in
the library's pyproject. With `stray_head_tag` the last library tag sits on HEAD although
only the app changed since the previous library tag: the "nothing to publish" case.

With `overlay_revisions=N` (the issue's 5,000) a `dev` environment is configured and N of
the app commits instead change its Kustomize overlay's image tag, the way `deploy.update`
does; `add_origin` gives the repository a bare `origin` with everything pushed.

Run `python benchmarks/synthetic_repo.py DEST [--commits N] [--tags N]
[--overlay-revisions N] [--origin]` to keep one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

LIB = "packages/dataenginex"
APP = "src/careerdex"
START = 1_600_000_000  # commit timestamps start here, one minute apart
MODULES = 50  # files per component that commits rotate through
OVERLAY = "infra/overlays/dev/kustomization.yaml"
ENVIRONMENT = """
[tool.dexops.environments.dev]
overlay = "infra/overlays/dev"
branch = "main"
"""


def overlay(tag: str) -> str:
    """The dev overlay holding one image tag."""
    return (
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "resources:\n  - ../../base\n"
        "images:\n"
        "  - name: example/careerdex\n"
        "    newName: ghcr.io/example/careerdex\n"
        f"    newTag: {tag}  # updated by dexops\n"
    )


def deploy_message(tag: str, previous: str) -> str:
    """A deploy commit's message with the trailers deploy.update writes (docs/gitops.md)."""
    return (
        f"chore: update dev image to {tag} [skip ci]\n\n"
        f"Dexops-Action: deploy\nDexops-Environment: dev\nDexops-Image-Tag: {tag}\n"
        f"Dexops-Previous-Tag: {previous}\n"
    )


ROOT_PYPROJECT = f"""\
[project]
name = "careerdex"
version = "0.1.0"
requires-python = ">=3.11"

[tool.dexops]
default-branch = "main"

[tool.dexops.components.dataenginex]
kind = "library"
path = "{LIB}"
tag-prefix = "dataenginex-v"

[tool.dexops.components.careerdex]
kind = "app"
path = "."
watch = ["{APP}", "Dockerfile"]
tag-prefix = "careerdex-v"
image = "ghcr.io/example/careerdex"
"""


def library_pyproject(version: str) -> str:
    """The library's pyproject at a version."""
    return (
        f'[project]\nname = "dataenginex"\nversion = "{version}"\nrequires-python = ">=3.11"\n'
        '\n[build-system]\nrequires = ["hatchling>=1.25"]\nbuild-backend = "hatchling.build"\n'
    )


@dataclass(frozen=True)
class SyntheticRepo:
    """Where the repository is and which tags it holds (in history order)."""

    path: Path
    commits: int
    library_tags: list[str]
    app_tags: list[str]

    @property
    def head_tag(self) -> str:
        """The last library tag (on HEAD when generated with `stray_head_tag`)."""
        return self.library_tags[-1]


def library_versions(count: int) -> list[str]:
    """`count` ascending PEP 440 versions; every fourth final is preceded by its rc1."""
    versions: list[str] = []
    release = 0
    while len(versions) < count:
        major, minor, patch = release // 100, (release // 10) % 10, release % 10
        final = f"{major}.{minor}.{patch}"
        if release % 4 == 0 and len(versions) < count - 1:
            versions.append(f"{final}rc1")
        versions.append(final)
        release += 1
    return versions[:count]


class _Stream:
    """Builds a fast-import stream in memory (a 20,000-commit stream is a few MB)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.mark = 0

    def data(self, text: str) -> None:
        raw = text.encode()
        self.parts.append(b"data %d\n" % len(raw) + raw + b"\n")

    def commit(self, when: int, message: str, files: dict[str, str]) -> int:
        self.mark += 1
        self.parts.append(b"commit refs/heads/main\nmark :%d\n" % self.mark)
        self.parts.append(b"committer Dex Bench <bench@example.com> %d +0000\n" % when)
        self.data(message)
        if self.mark > 1:
            self.parts.append(b"from :%d\n" % (self.mark - 1))
        for path, content in files.items():
            self.parts.append(f"M 100644 inline {path}\n".encode())
            self.data(content)
        return self.mark

    def tag(self, name: str, mark: int, when: int) -> None:
        self.parts.append(f"tag {name}\nfrom :{mark}\n".encode())
        self.parts.append(b"tagger Dex Bench <bench@example.com> %d +0000\n" % when)
        self.data(f"release {name}")

    def bytes(self) -> bytes:
        return b"".join(self.parts)


def generate(  # noqa: PLR0915 - one stream, written in order
    dest: Path,
    *,
    commits: int = 20_000,
    tags: int = 400,
    stray_head_tag: bool = True,
    overlay_revisions: int = 0,
) -> SyntheticRepo:
    """Write the repository at `dest` (which must not exist) and check out `main`."""
    library_count = tags * 3 // 4
    app_count = tags - library_count
    versions = library_versions(library_count)
    stream = _Stream()
    initial = {
        "pyproject.toml": ROOT_PYPROJECT,
        "Dockerfile": "FROM python:3.12-slim\n",
        f"{LIB}/pyproject.toml": library_pyproject("0.0.0.dev0"),
        f"{LIB}/src/dataenginex/__init__.py": '"""DataEngineX."""\n',
        f"{APP}/__init__.py": '"""CareerDEX."""\n',
    }
    if overlay_revisions:
        initial["pyproject.toml"] = ROOT_PYPROJECT + ENVIRONMENT
        initial["infra/base/kustomization.yaml"] = "resources: []\n"
        initial[OVERLAY] = overlay("sha-00000000")
    # App commits whose number is a multiple of this change the overlay instead (about N).
    overlay_every = max(1, (commits * 2 // 3) // overlay_revisions) if overlay_revisions else 0
    deployed = 0
    previous_tag = "sha-00000000"
    stream.commit(START, "feat: initial import", initial)
    # Library tags are spread evenly; the last one is kept for HEAD when asked.
    spacing = max(2, (commits - 10) // max(1, library_count))
    tag_at = {1 + spacing * (i + 1): v for i, v in enumerate(versions[:-1])}
    app_every = max(2, commits // max(1, app_count))
    library_tags: list[str] = []
    app_tags: list[str] = []
    last = 1
    last_release = max(tag_at, default=1)
    for n in range(2, commits + 1):
        when = START + 60 * n
        # After the last real library release only the app changes (for the stray HEAD tag).
        final_stretch = stray_head_tag and n > last_release
        if n in tag_at:
            version = tag_at[n]
            last = stream.commit(
                when, f"chore: release dataenginex {version}",
                {f"{LIB}/pyproject.toml": library_pyproject(version)},
            )  # fmt: skip
            library_tags.append(f"dataenginex-v{version}")
            stream.tag(library_tags[-1], last, when)
        elif n % 3 == 0 and not final_stretch:
            module = f"{LIB}/src/dataenginex/mod_{n % MODULES}.py"
            last = stream.commit(when, f"feat(dataenginex): change {n}", {module: f"N = {n}\n"})
        elif overlay_every and deployed < overlay_revisions and n % overlay_every == 0:
            deployed += 1
            tag = f"sha-{n:08x}"
            last = stream.commit(when, deploy_message(tag, previous_tag), {OVERLAY: overlay(tag)})
            previous_tag = tag
        else:
            module = f"{APP}/mod_{n % MODULES}.py"
            last = stream.commit(when, f"feat(careerdex): change {n}", {module: f"N = {n}\n"})
        if n % app_every == 0 and len(app_tags) < app_count:
            app_tags.append(f"careerdex-v1.{len(app_tags) // 10}.{len(app_tags) % 10}")
            stream.tag(app_tags[-1], last, when)
    final_version = versions[-1]
    head_tag = f"dataenginex-v{final_version}"
    if not stray_head_tag:
        last = stream.commit(
            START + 60 * (commits + 1), f"chore: release dataenginex {final_version}",
            {f"{LIB}/pyproject.toml": library_pyproject(final_version)},
        )  # fmt: skip
    stream.tag(head_tag, last, START + 60 * (commits + 1))
    library_tags.append(head_tag)

    dest.mkdir(parents=True)
    _git(dest, "init", "--quiet", "--initial-branch=main")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=dest, input=stream.bytes(), check=True)
    _git(dest, "checkout", "--quiet", "--force", "main")
    return SyntheticRepo(dest, stream.mark, library_tags, app_tags)


def add_origin(repo: SyntheticRepo) -> Path:
    """A bare `origin` next to the repository holding `main` and every tag; return its path."""
    origin = repo.path.with_name(repo.path.name + "-origin.git")
    _git(repo.path.parent, "clone", "--quiet", "--bare", str(repo.path), str(origin))
    _git(repo.path, "remote", "add", "origin", str(origin))
    _git(repo.path, "fetch", "--quiet", "origin")
    _git(repo.path, "branch", "--quiet", "--set-upstream-to=origin/main", "main")
    return origin


def reuse_or_generate(
    dest: Path, *, commits: int, tags: int, stray_head_tag: bool, overlay_revisions: int
) -> SyntheticRepo:
    """The repository and origin an earlier run made at `dest` with these arguments, or new ones.

    A manifest beside it (`<dest>.json`, written last) records the arguments and the tags, so
    a run cut short or made with other arguments leaves nothing that is taken for a match.
    """
    asked = {
        "commits": commits,
        "tags": tags,
        "stray_head_tag": stray_head_tag,
        "overlay_revisions": overlay_revisions,
    }
    manifest = dest.with_name(dest.name + ".json")
    if dest.exists() and manifest.exists():
        kept = json.loads(manifest.read_text(encoding="utf-8"))
        if kept["asked"] == asked:
            made = kept["repo"]
            return SyntheticRepo(dest, made["commits"], made["library_tags"], made["app_tags"])
    origin = dest.with_name(dest.name + "-origin.git")
    for stale in (dest, origin):
        shutil.rmtree(stale, ignore_errors=True)
    repo = generate(
        dest,
        commits=commits,
        tags=tags,
        stray_head_tag=stray_head_tag,
        overlay_revisions=overlay_revisions,
    )
    add_origin(repo)
    made = {**asdict(repo), "path": str(repo.path)}
    manifest.write_text(json.dumps({"asked": asked, "repo": made}), encoding="utf-8")
    return repo


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def main() -> None:
    """Generate a repository where the command line says."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--commits", type=int, default=20_000)
    parser.add_argument("--tags", type=int, default=400)
    parser.add_argument("--overlay-revisions", type=int, default=0)
    parser.add_argument("--origin", action="store_true", help="also make a bare origin")
    args = parser.parse_args()
    started = time.perf_counter()
    repo = generate(
        args.dest,
        commits=args.commits,
        tags=args.tags,
        overlay_revisions=args.overlay_revisions,
    )
    if args.origin:
        add_origin(repo)
    elapsed = time.perf_counter() - started
    print(
        f"{repo.path}: {repo.commits} commits, {len(repo.library_tags)} library tags, "
        f"{len(repo.app_tags)} app tags, HEAD tag {repo.head_tag} ({elapsed:.1f}s)"
    )


if __name__ == "__main__":
    main()
