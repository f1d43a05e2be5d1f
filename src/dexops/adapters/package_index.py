"""The package index adapter: Simple API reads (PEP 691 JSON, PEP 503 HTML) and twine uploads."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

from packaging.utils import canonicalize_name
from packaging.version import Version

from dexops import github_actions, secrets
from dexops.adapters.http import BoundedBody, make_session, open_stream, origin, trust
from dexops.adapters.tool import run_tool
from dexops.domain.config import PackageIndex
from dexops.domain.distributions import IndexFile, files_of_release, sha256_hex
from dexops.errors import PackageIndexError

# PEP 691: prefer JSON, accept the PEP 503 HTML every index serves.
SIMPLE_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
# Read retries (429/5xx, refused connections); module-level so tests can shorten the backoff.
READ_RETRIES = 4
MAX_REDIRECTS = 5  # on the index's own host (a project page without its slash, say)
READ_BACKOFF = 0.5
READ_DEADLINE = 180.0  # seconds for one read, its retries and a downloaded file's body included
UPLOAD_TIMEOUT = 600.0  # seconds for one twine run
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Credentials:
    """A username and password for one index, and the variable(s) they came from."""

    username: str
    password: str
    source: str

    def __repr__(self) -> str:
        # Never let a password reach a log through a repr.
        return f"Credentials(username={self.username!r}, source={self.source!r})"


def credentials_for(
    index: PackageIndex, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """The index's token variable (as `__token__`), else TWINE_USERNAME/TWINE_PASSWORD."""
    env = os.environ if environ is None else environ
    found: Credentials | None = None
    if index.token_env and env.get(index.token_env):
        found = Credentials("__token__", env[index.token_env], index.token_env)
    elif env.get("TWINE_PASSWORD"):
        username = env.get("TWINE_USERNAME") or "__token__"
        found = Credentials(username, env["TWINE_PASSWORD"], "TWINE_USERNAME/TWINE_PASSWORD")
    if found is not None:
        _register(found.password)
        if found.username != "__token__":
            _register(found.username)
    return found


def _register(value: str) -> None:
    """Mask a credential from now on, and tell the Actions runner if it did not know it."""
    known = value in secrets.known_secrets()
    secrets.register(value)
    if github_actions.active() and not known and value in secrets.known_secrets():
        sys.stdout.write(f"::add-mask::{value}\n")
        sys.stdout.flush()


def missing_credentials_hint(index: PackageIndex) -> str:
    """Which variables would give credentials for `index`."""
    token = f"{index.token_env} or " if index.token_env else ""
    return f"set {token}TWINE_USERNAME/TWINE_PASSWORD"


@dataclass(frozen=True)
class UploadStarted:
    """One file's upload to an index begins (`position` of `count` in this run)."""

    index: str
    filename: str
    size: int
    position: int
    count: int


@dataclass(frozen=True)
class UploadFinished:
    """One file reached the index, `seconds` after its upload began."""

    index: str
    filename: str
    size: int
    position: int
    count: int
    seconds: float


UploadProgress = UploadStarted | UploadFinished


class _LinkParser(HTMLParser):
    """Collects `<a href>` links and their text from a PEP 503 project page."""

    def __init__(self) -> None:
        super().__init__()
        self.base: str | None = None
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "base" and values.get("href"):
            self.base = values["href"]
        elif tag == "a":
            self._href = values.get("href")
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None


def parse_simple_html(text: str, page_url: str) -> list[IndexFile]:
    """Files of a PEP 503 project page; the digest comes from a `#sha256=` fragment."""
    parser = _LinkParser()
    parser.feed(text)
    base = urljoin(page_url, parser.base) if parser.base else page_url
    files = []
    for href, text_of_link in parser.links:
        url, fragment = urldefrag(urljoin(base, href))
        filename = text_of_link or url.rstrip("/").rsplit("/", 1)[-1]
        algorithm, _, value = fragment.partition("=")
        files.append(IndexFile(filename, url, value.lower() if algorithm == "sha256" else None))
    return files


def parse_simple_json(data: object, page_url: str) -> list[IndexFile]:
    """Files of a PEP 691 project response, or a `PackageIndexError` for another shape."""
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise PackageIndexError(f"{page_url} answered JSON that is not a PEP 691 project page")
    version = str(data.get("meta", {}).get("api-version", "1.0"))
    if version.split(".", 1)[0] != "1":
        raise PackageIndexError(f"{page_url} speaks Simple API {version}; dexops reads 1.x")
    files = []
    for entry in data["files"]:
        if not isinstance(entry, dict) or "filename" not in entry or "url" not in entry:
            raise PackageIndexError(f"{page_url} lists a file without filename or url")
        hashes = entry.get("hashes") or {}
        digest = hashes.get("sha256") if isinstance(hashes, dict) else None
        files.append(
            IndexFile(
                str(entry["filename"]),
                urljoin(page_url, str(entry["url"])),
                str(digest).lower() if digest else None,
            )
        )
    return files


class IndexClient:
    """Reads one index's Simple API and uploads to it with twine."""

    def __init__(
        self,
        index: PackageIndex,
        *,
        credentials: Credentials | None = None,
        retries: int | None = None,
        backoff: float | None = None,
    ) -> None:
        self.index = index
        self.credentials = credentials
        self.retries = READ_RETRIES if retries is None else retries
        self.deadline = READ_DEADLINE
        self.session = make_session(
            retries=self.retries,
            backoff=READ_BACKOFF if backoff is None else backoff,
            deadline=self.deadline,
            allowed_methods=frozenset({"GET"}),
        )
        # Credentials (sent after a 401) go to the index's own origin, never a file host.
        trust(self.session, index.simple_url)
        self._authenticated = False

    # --- reading ------------------------------------------------------------------------

    def project_url(self, project: str) -> str:
        """The PEP 503 URL of a project's page."""
        return f"{self.index.simple_url.rstrip('/')}/{canonicalize_name(project)}/"

    def _get(self, url: str, *, accept: str | None = None, stream: bool = False) -> BoundedBody:
        """GET with bounded retries; send credentials only after a 401 from the index's host.

        The body is read here, by the deadline, unless `stream`: then the caller reads it.
        """
        # requests (~40 ms) loads at the first HTTP call: most tasks that can talk HTTP do not.
        import requests  # noqa: PLC0415

        headers = {"Accept": accept} if accept else {}
        same_origin = origin(url) == origin(self.index.simple_url)
        auth = (
            (self.credentials.username, self.credentials.password)
            if self._authenticated and same_origin and self.credentials
            else None
        )
        where = f"{self.index.name} ({url})"
        try:
            body = self._get_here(url, headers=headers, auth=auth)
            if (
                body.status_code == 401
                and auth is None
                and same_origin
                and self.credentials is not None
            ):
                # A private index: ask again with the credentials it challenged for.
                body.close()
                self._authenticated = True
                return self._get(url, accept=accept, stream=stream)
            if not stream:
                with body:
                    body.read()
        except requests.exceptions.ConnectionError as exc:
            reason = _connection_reason(exc)
            raise PackageIndexError(
                f"{where} is unreachable after {self.retries + 1} attempts: {reason}"
            ) from None
        except requests.exceptions.Timeout:
            raise PackageIndexError(
                f"{where} timed out after {self.retries + 1} attempts"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise PackageIndexError(f"{where} could not be read: {type(exc).__name__}") from None
        if body.status_code in (401, 403):
            body.close()
            hint = "rejected the credentials" if auth else "requires credentials"
            raise PackageIndexError(
                f"{where} {hint} (HTTP {body.status_code}); {missing_credentials_hint(self.index)}"
            )
        if body.status_code >= 500 or body.status_code == 429:
            body.close()
            raise PackageIndexError(
                f"{where} answered HTTP {body.status_code} after {self.retries + 1} attempts"
            )
        return body

    def _get_here(
        self, url: str, *, headers: dict[str, str], auth: tuple[str, str] | None
    ) -> BoundedBody:
        """GET following redirects on the index's own host only; another host's stays a 3xx."""
        for _ in range(MAX_REDIRECTS + 1):
            body = open_stream(
                self.session, "GET", url, headers=headers, auth=auth, allow_redirects=False
            )
            location = body.headers.get("Location")
            if not body.is_redirect or location is None:
                return body
            target = urljoin(url, location)
            if origin(target) != origin(self.index.simple_url):
                # pypiserver sends a project it lacks to pypi.org: that host's files are
                # not this index's. The 3xx is the answer.
                return body
            body.close()
            url = target
        raise PackageIndexError(
            f"{self.index.name} ({url}) redirects more than {MAX_REDIRECTS} times"
        )

    def project_files(self, project: str) -> list[IndexFile]:
        """Every file the index lists for a project (empty when the project is unknown).

        A redirect to another host (pypiserver's fallback to pypi.org) says the index does
        not hold the project: it is never followed.
        """
        url = self.project_url(project)
        body = self._get(url, accept=SIMPLE_ACCEPT)
        if body.status_code == 404 or body.is_redirect:
            return []
        if body.status_code != 200:
            raise PackageIndexError(f"{self.index.name} ({url}) answered HTTP {body.status_code}")
        content_type = body.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if "json" in content_type:
            try:
                data = body.json()
            except ValueError:
                raise PackageIndexError(f"{url} answered invalid JSON") from None
            return parse_simple_json(data, body.url)
        return parse_simple_html(body.text(), body.url)

    def digest_of(self, file: IndexFile) -> str:
        """The SHA-256 of a listed file: from the listing, else by downloading it."""
        if file.sha256 is not None:
            return file.sha256
        body = self._get(file.url, stream=True)
        if body.is_redirect:
            body.close()
            elsewhere = urlsplit(urljoin(file.url, body.headers["Location"])).hostname
            raise PackageIndexError(
                f"{self.index.name} redirects {file.filename} to another host ({elsewhere}); "
                "dexops reads a file's sha256 from the index itself only"
            )
        if body.status_code != 200:
            body.close()
            raise PackageIndexError(
                f"{self.index.name} answered HTTP {body.status_code} for {file.filename}"
            )
        # requests (~40 ms) loads at the first HTTP call: most tasks that can talk HTTP do not.
        import requests  # noqa: PLC0415

        with body:
            try:
                return sha256_hex(body.iter_bytes(_CHUNK))
            except requests.exceptions.Timeout:
                raise PackageIndexError(
                    f"{self.index.name} ({file.url}) sent no complete {file.filename} "
                    f"within {self.deadline:g}s"
                ) from None
            except requests.exceptions.RequestException as exc:
                raise PackageIndexError(
                    f"{self.index.name} ({file.url}) broke off {file.filename}: "
                    f"{_connection_reason(exc)}"
                ) from None

    def release_files(self, project: str, version: Version) -> list[IndexFile]:
        """The files of one release on the index, each with its SHA-256."""
        listed = files_of_release(self.project_files(project), project, version)
        return [IndexFile(f.filename, f.url, self.digest_of(f)) for f in listed]

    # --- uploading -----------------------------------------------------------------------

    def upload_command(self, files: Sequence[Path]) -> list[str]:
        """The twine command line; credentials travel in the environment, never here."""
        return [
            sys.executable, "-m", "twine", "upload",
            "--non-interactive", "--disable-progress-bar",
            "--repository-url", self.index.upload_url,
            *(str(f) for f in files),
        ]  # fmt: skip

    def upload(
        self,
        files: Sequence[Path],
        *,
        on_progress: Callable[[UploadProgress], None] | None = None,
    ) -> None:
        """Upload files with twine, one run per file; a refusal is one `PackageIndexError` line.

        One run per file, so `on_progress` hears of each file as its upload starts and
        ends (twine's own output says nothing until it exits). A failure names the files
        that reached the index before it.
        """
        if self.credentials is None:
            raise PackageIndexError(
                f"no credentials for {self.index.name}: {missing_credentials_hint(self.index)}"
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWINE_")}
        env.update(
            {
                "TWINE_USERNAME": self.credentials.username,
                "TWINE_PASSWORD": self.credentials.password,
                # No keyring prompts or lookups in CI: the credentials are right here.
                "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
                "NO_COLOR": "1",
            }
        )
        sent: list[str] = []
        for position, path in enumerate(files, 1):
            size = path.stat().st_size
            if on_progress is not None:
                on_progress(UploadStarted(self.index.name, path.name, size, position, len(files)))
            started = time.monotonic()
            done = run_tool(
                self.upload_command([path]),
                what=f"upload of {path.name} to {self.index.name}",
                timeout=UPLOAD_TIMEOUT,
                error=PackageIndexError,
                env=env,
            )
            if done.returncode != 0:
                reason = twine_failure(f"{done.stdout}\n{done.stderr}")
                before = f" ({', '.join(sent)} reached it)" if sent else ""
                raise PackageIndexError(
                    f"upload of {path.name} to {self.index.name} failed: {reason}{before}"
                )
            sent.append(path.name)
            if on_progress is not None:
                elapsed = time.monotonic() - started
                on_progress(
                    UploadFinished(self.index.name, path.name, size, position, len(files), elapsed)
                )


def twine_failure(output: str) -> str:
    """The line of twine's output that says why an upload failed."""
    lines = [" ".join(line.split()) for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("ERROR"):
            return line.removeprefix("ERROR").strip()
    for line in lines:
        if "Error" in line or "error" in line:
            return line
    return lines[-1] if lines else "twine exited without saying why"


def _connection_reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "reset"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__
