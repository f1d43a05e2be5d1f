"""The OCI registry adapter: manifest digests over the distribution API, bearer-token auth.

Anonymous by default; `REGISTRY_USERNAME` with `REGISTRY_PASSWORD` (or `REGISTRY_TOKEN`)
from the environment when set. Loopback registries are spoken to over plain http.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from dexops import secrets
from dexops.adapters.http import Origin, make_session, origin, trust
from dexops.domain.imageref import ImageRef, ImageRefError, validate_digest
from dexops.errors import DexopsError, ExitCode

if TYPE_CHECKING:
    import requests

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
ACCEPT = ", ".join(MANIFEST_TYPES)

USERNAME_ENV = "REGISTRY_USERNAME"
PASSWORD_ENV = "REGISTRY_PASSWORD"  # noqa: S105 - the variable's name, not a password
TOKEN_ENV = "REGISTRY_TOKEN"  # noqa: S105 - the variable's name
# Registries that take a token as the password ignore the user name; some need one anyway.
TOKEN_USERNAME = "token"  # noqa: S105 - a user name


class RegistryError(DexopsError):
    """The registry answered something dexops cannot use."""


class ImageNotFoundError(RegistryError):
    """The registry has no manifest for the reference."""

    exit_code = ExitCode.NOT_FOUND


class RegistryAuthError(RegistryError):
    """The registry refused the request: no credentials, wrong ones, or no access."""

    exit_code = ExitCode.UNAUTHORIZED


class RegistryUnreachableError(RegistryError):
    """The registry could not be reached, timed out, or kept failing with 5xx."""

    exit_code = ExitCode.UNREACHABLE


@dataclass(frozen=True)
class Credentials:
    """A user name and a password or token for a registry."""

    username: str
    password: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Credentials | None:
        """Credentials from REGISTRY_USERNAME / REGISTRY_PASSWORD or REGISTRY_TOKEN, if set."""
        source = os.environ if env is None else env
        password = source.get(PASSWORD_ENV) or source.get(TOKEN_ENV)
        if not password:
            return None
        secrets.register(password)
        return cls(source.get(USERNAME_ENV) or TOKEN_USERNAME, password)


_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


@dataclass(frozen=True)
class Challenge:
    """A parsed `WWW-Authenticate` header."""

    scheme: str
    params: Mapping[str, str]


def parse_challenge(header: str) -> Challenge:
    """Parse `Bearer realm="…",service="…",scope="…"` (or `Basic realm="…"`)."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m[1].lower(): m[3] if m[2] is None else m[2] for m in _CHALLENGE_PARAM.finditer(rest)}
    return Challenge(scheme.lower(), params)


MAX_REDIRECTS = 5  # on the registry's own host


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _known(registry: str, token_service: str) -> tuple[Origin, Origin]:
    return origin(registry), origin(token_service)


# A registry whose documented token service lives on another host (Docker Hub's).
KNOWN_TOKEN_SERVICES = frozenset({_known("https://registry-1.docker.io", "https://auth.docker.io")})


def base_url(ref: ImageRef) -> str:
    """The registry API root: plain http only for loopback registries, https otherwise."""
    scheme = "http" if ref.is_loopback else "https"
    return f"{scheme}://{ref.api_host}"


def _loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Manifest:
    """A manifest as the registry serves it."""

    digest: str
    media_type: str
    body: bytes


class RegistryClient:
    """Reads (and re-tags) manifests of one or more registries."""

    def __init__(
        self,
        session: requests.Session | None = None,
        *,
        credentials: Credentials | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.session = session or make_session(retries=2, backoff=0.3, timeout=(5.0, 20.0))
        self.credentials = credentials if credentials is not None else Credentials.from_env(env)
        self._tokens: dict[tuple[str, str], str] = {}

    # --- public ------------------------------------------------------------------------

    def digest(self, ref: ImageRef) -> str:
        """The manifest digest the registry holds for `ref` (tag or digest)."""
        response = self._request("HEAD", ref, self._manifest_url(ref))
        digest = response.headers.get("Docker-Content-Digest")
        if not digest:
            # Some registries omit the header on HEAD; the digest is the body's sha256.
            return self.manifest(ref).digest
        return self._checked_digest(digest, ref)

    def exists(self, ref: ImageRef) -> bool:
        """Whether the registry has `ref`; auth and reachability problems still raise."""
        try:
            self.digest(ref)
        except ImageNotFoundError:
            return False
        return True

    def manifest(self, ref: ImageRef) -> Manifest:
        """Fetch a manifest's bytes, media type and digest."""
        response = self._request("GET", ref, self._manifest_url(ref))
        body = response.content
        computed = "sha256:" + hashlib.sha256(body).hexdigest()
        header = response.headers.get("Docker-Content-Digest")
        digest = self._checked_digest(header, ref) if header else computed
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Manifest(digest, media_type, body)

    def put_manifest(self, ref: ImageRef, manifest: Manifest) -> str:
        """Store a manifest under `ref`'s tag (a server-side re-tag); returns its digest."""
        response = self._request(
            "PUT",
            ref,
            self._manifest_url(ref),
            push=True,
            data=manifest.body,
            headers={"Content-Type": manifest.media_type},
        )
        header = response.headers.get("Docker-Content-Digest")
        return self._checked_digest(header, ref) if header else manifest.digest

    # --- plumbing ----------------------------------------------------------------------

    def _manifest_url(self, ref: ImageRef) -> str:
        return f"{base_url(ref)}/v2/{ref.repository}/manifests/{ref.reference}"

    def _checked_digest(self, digest: str, ref: ImageRef) -> str:
        try:
            return validate_digest(digest.strip())
        except ImageRefError:
            raise RegistryError(f"registry sent an invalid digest {digest!r} for {ref}") from None

    def _send(self, method: str, url: str, ref: ImageRef, **kwargs: object) -> requests.Response:
        # requests (~40 ms) loads at the first HTTP call: most tasks that can talk HTTP do not.
        import requests  # noqa: PLC0415

        try:
            for _ in range(MAX_REDIRECTS + 1):
                response = self.session.request(method, url, allow_redirects=False, **kwargs)  # type: ignore[arg-type]
                location = response.headers.get("Location")
                if not response.is_redirect or location is None:
                    return response
                target = urljoin(url, location)
                if _origin(target) != _origin(url):
                    # Another host's manifest is not this registry's answer: never taken.
                    response.close()
                    raise RegistryError(
                        f"registry {ref.registry} redirects {urlsplit(url).path} to another "
                        f"host ({urlsplit(target).netloc}); not followed"
                    )
                response.close()
                url = target
            raise RegistryError(
                f"registry {ref.registry} redirects more than {MAX_REDIRECTS} times"
            )
        except requests.exceptions.RetryError:
            raise RegistryUnreachableError(
                f"registry {ref.registry} kept failing (5xx/429) for {ref}"
            ) from None
        except requests.exceptions.RequestException as exc:
            kind = type(exc).__name__
            raise RegistryUnreachableError(
                f"registry {ref.registry} is unreachable ({kind}) at {base_url(ref)}"
            ) from None

    def _request(
        self,
        method: str,
        ref: ImageRef,
        url: str,
        *,
        push: bool = False,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        # The bearer token and basic credentials this client sends go to this registry only.
        trust(self.session, base_url(ref))
        sent = {"Accept": ACCEPT, **(headers or {})}
        scope = f"repository:{ref.repository}:{'pull,push' if push else 'pull'}"
        token = self._tokens.get((ref.api_host, scope))
        if token:
            sent["Authorization"] = f"Bearer {token}"
        response = self._send(method, url, ref, headers=sent, data=data)
        if response.status_code == 401:
            challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
            sent["Authorization"] = self._authorize(challenge, ref, scope)
            response = self._send(method, url, ref, headers=sent, data=data)
        return self._checked(response, ref)

    def _checked(self, response: requests.Response, ref: ImageRef) -> requests.Response:
        status = response.status_code
        if status in (200, 201, 202):
            return response
        if status == 404:
            raise ImageNotFoundError(f"{ref} not found in registry {ref.registry}")
        if status in (401, 403):
            who = "anonymously" if self.credentials is None else "with the given credentials"
            hint = f" (set {USERNAME_ENV}/{PASSWORD_ENV})" if self.credentials is None else ""
            raise RegistryAuthError(
                f"registry {ref.registry} refused access to {ref.name} {who} (HTTP {status}){hint}"
            )
        if status >= 500 or status == 429:
            raise RegistryUnreachableError(
                f"registry {ref.registry} answered HTTP {status} for {ref}"
            )
        raise RegistryError(f"registry {ref.registry} answered HTTP {status} for {ref}")

    def _authorize(self, challenge: Challenge, ref: ImageRef, scope: str) -> str:
        """The Authorization header answering a 401 challenge."""
        if challenge.scheme == "basic":
            if self.credentials is None:
                raise RegistryAuthError(
                    f"registry {ref.registry} needs credentials for {ref.name} "
                    f"(set {USERNAME_ENV} and {PASSWORD_ENV})"
                )
            self._require_safe_transport(base_url(ref), ref)
            pair = f"{self.credentials.username}:{self.credentials.password}".encode()
            return "Basic " + base64.b64encode(pair).decode()
        if challenge.scheme != "bearer" or "realm" not in challenge.params:
            raise RegistryAuthError(
                f"registry {ref.registry} answered 401 without a usable bearer challenge"
            )
        token = self._fetch_token(challenge, ref, challenge.params.get("scope") or scope)
        self._tokens[(ref.api_host, scope)] = token
        return f"Bearer {token}"

    def _require_safe_transport(self, url: str, ref: ImageRef) -> None:
        if urlsplit(url).scheme != "https" and not _loopback_url(url):
            raise RegistryAuthError(
                f"registry {ref.registry} asks for credentials over plain http; refused"
            )

    def _require_registry_realm(self, realm: str, ref: ImageRef) -> None:
        registry = origin(base_url(ref))
        where = origin(realm)
        if where == registry or (registry, where) in KNOWN_TOKEN_SERVICES:
            return
        raise RegistryAuthError(
            f"registry {ref.registry} sent a token realm on {where}; its credentials are "
            f"sent only to {registry}"
        )

    def _fetch_token(self, challenge: Challenge, ref: ImageRef, scope: str) -> str:
        realm = challenge.params["realm"]
        if urlsplit(realm).scheme not in ("http", "https"):
            raise RegistryAuthError(f"registry {ref.registry} sent a bad token realm")
        params = {"scope": scope}
        if "service" in challenge.params:
            params["service"] = challenge.params["service"]
        auth = None
        if self.credentials is not None:
            self._require_safe_transport(realm, ref)
            self._require_registry_realm(realm, ref)
            auth = (self.credentials.username, self.credentials.password)
            trust(self.session, realm)
        response = self._send("GET", realm, ref, params=params, auth=auth)
        if response.status_code in (401, 403):
            who = "anonymous" if auth is None else "the given credentials"
            raise RegistryAuthError(
                f"token endpoint of {ref.registry} refused {who} for {ref.name} "
                f"(HTTP {response.status_code})"
            )
        if response.status_code != 200:
            raise RegistryUnreachableError(
                f"token endpoint of {ref.registry} answered HTTP {response.status_code}"
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryAuthError(f"token endpoint of {ref.registry} sent no token")

        secrets.register(token)
        return token
