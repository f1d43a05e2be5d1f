from __future__ import annotations

from pathlib import Path

import pytest

from dexops.adapters.git import Git
from dexops.adapters.github import GitHub, PullRequest, github_from_env, repository_from_url
from dexops.errors import ForgeError
from tests.fixtures_github import FAKE_TOKEN, GitHubFake
from tests.gitrepo import init_repo

RELEASES = "/repos/thedataenginex/dex/releases"
PULLS = "/repos/thedataenginex/dex/pulls"


# --- releases --------------------------------------------------------------------------------


def test_create_release_posts_what_the_api_documents(github_fake: GitHubFake) -> None:
    release = github_fake.client().create_release(
        "dataenginex-v0.5.0", name="dataenginex 0.5.0", body="## Added\n- x", prerelease=False
    )
    assert release.created
    assert release.tag == "dataenginex-v0.5.0"
    assert release.url == "https://github.com/thedataenginex/dex/releases/tag/dataenginex-v0.5.0"
    (sent,) = github_fake.requests
    assert sent.line == f"POST {RELEASES}"
    assert sent.body == {
        "tag_name": "dataenginex-v0.5.0",
        "name": "dataenginex 0.5.0",
        "body": "## Added\n- x",
        "draft": False,
        "prerelease": False,
    }
    assert sent.headers["authorization"] == f"Bearer {FAKE_TOKEN}"
    assert sent.headers["accept"] == "application/vnd.github+json"
    assert sent.headers["x-github-api-version"] == "2022-11-28"
    assert sent.headers["user-agent"].startswith("dexops/")


def test_existing_release_is_returned_not_created(github_fake: GitHubFake) -> None:
    github_fake.add_release("v1.0.0")
    release = github_fake.client().create_release("v1.0.0", name="v", body="", prerelease=True)
    assert not release.created
    assert release.tag == "v1.0.0"
    assert github_fake.calls() == [f"POST {RELEASES}", f"GET {RELEASES}/tags/v1.0.0"]


def test_existing_draft_release_is_an_error(github_fake: GitHubFake) -> None:
    github_fake.add_release("v1.0.0", draft=True)
    with pytest.raises(ForgeError, match="already exists but is not published"):
        github_fake.client().create_release("v1.0.0", name="v", body="", prerelease=False)


def test_release_for_tag(github_fake: GitHubFake) -> None:
    gh = github_fake.client()
    assert gh.release_for_tag("v2.0.0") is None
    github_fake.add_release("v2.0.0")
    found = gh.release_for_tag("v2.0.0")
    assert found is not None
    assert not found.created


def test_tag_names_are_quoted_in_paths(github_fake: GitHubFake) -> None:
    github_fake.client().release_for_tag("team/v1.0")
    assert github_fake.requests[0].path in (
        f"{RELEASES}/tags/team%2Fv1.0",
        f"{RELEASES}/tags/team/v1.0",  # werkzeug may decode %2F
    )


# --- failures --------------------------------------------------------------------------------


def test_bad_token_is_one_line_without_the_token(github_fake: GitHubFake) -> None:
    gh = GitHub(github_fake.repository, "ghp_wrongTOKENvalue123", github_fake.url)
    with pytest.raises(ForgeError) as caught:
        gh.create_release("v1", name="v1", body="", prerelease=False)
    message = str(caught.value)
    assert "401" in message
    assert "Bad credentials" in message
    assert "ghp_wrong" not in message
    assert "\n" not in message
    assert len(github_fake.requests) == 1  # 401 is never retried


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_then_success_is_retried(github_fake: GitHubFake, status: int) -> None:
    github_fake.fail(status, times=2)
    release = github_fake.client().create_release("v1", name="v1", body="", prerelease=False)
    assert release.created
    assert github_fake.calls() == [f"POST {RELEASES}"] * 3
    assert len(github_fake.sleeps) == 2
    assert github_fake.sleeps[1] > github_fake.sleeps[0]  # backoff grows


def test_server_errors_are_bounded(github_fake: GitHubFake) -> None:
    github_fake.fail(502, times=100)
    with pytest.raises(ForgeError, match=r"GitHub failed POST .*: 502 after 3 attempts"):
        github_fake.client(attempts=3).create_release("v1", name="", body="", prerelease=False)
    assert len(github_fake.requests) == 3


@pytest.mark.parametrize("status", [403, 429])
def test_retry_after_is_honoured(github_fake: GitHubFake, status: int) -> None:
    github_fake.rate_limit(status=status, retry_after=7)
    release = github_fake.client().create_release("v1", name="v1", body="", prerelease=False)
    assert release.created
    assert github_fake.sleeps == [7.0]
    assert len(github_fake.requests) == 2


def test_primary_rate_limit_waits_for_the_reset(github_fake: GitHubFake) -> None:
    github_fake.rate_limit(status=403, retry_after=None, reset=0)
    assert github_fake.client().release_for_tag("v1") is None
    assert github_fake.sleeps == [0.0]


def test_rate_limit_beyond_the_cap_fails_at_once(github_fake: GitHubFake) -> None:
    github_fake.rate_limit(status=429, retry_after=3600)
    with pytest.raises(ForgeError, match="asks to wait 3600s"):
        github_fake.client().release_for_tag("v1")
    assert len(github_fake.requests) == 1
    assert github_fake.sleeps == []


def test_plain_403_is_a_permission_error_not_retried(github_fake: GitHubFake) -> None:
    github_fake.fail(403, json_body={"message": "Resource not accessible by integration"})
    with pytest.raises(ForgeError, match="403 Resource not accessible by integration"):
        github_fake.client().create_release("v1", name="", body="", prerelease=False)
    assert len(github_fake.requests) == 1


def test_404_on_an_unknown_repository(github_fake: GitHubFake) -> None:
    gh = GitHub("someone/else", FAKE_TOKEN, github_fake.url)
    with pytest.raises(ForgeError, match=r"404 .*someone/else"):
        gh.create_release("v1", name="", body="", prerelease=False)


def test_422_other_than_already_exists(github_fake: GitHubFake) -> None:
    github_fake.fail(
        422,
        json_body={"message": "Validation Failed", "errors": [{"code": "invalid", "field": "x"}]},
    )
    with pytest.raises(ForgeError, match="422 Validation Failed \\(invalid\\)"):
        github_fake.client().create_release("v1", name="", body="", prerelease=False)


def test_malformed_json(github_fake: GitHubFake) -> None:
    github_fake.fail(201, body="<html>proxy</html>")
    with pytest.raises(ForgeError, match="malformed JSON"):
        github_fake.client().create_release("v1", name="", body="", prerelease=False)


def test_timeout_is_one_line() -> None:
    import socket

    # A listener that accepts connections and never answers: every read times out.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        gh = GitHub("a/b", FAKE_TOKEN, f"http://127.0.0.1:{port}", attempts=2, timeout=0.2)
        sleeps: list[float] = []
        gh.sleep = sleeps.append
        with pytest.raises(ForgeError, match=r"did not answer POST /repos/a/b/releases in time"):
            gh.create_release("v1", name="", body="", prerelease=False)
    assert sleeps == [0.5]  # retried once, after a backoff


def test_connection_refused_is_one_line() -> None:
    gh = GitHub("a/b", FAKE_TOKEN, "http://127.0.0.1:9", attempts=2)
    gh.sleep = lambda _seconds: None
    with pytest.raises(ForgeError, match=r"cannot reach GitHub at http://127.0.0.1:9"):
        gh.release_for_tag("v1")


def test_constructor_validates_input() -> None:
    with pytest.raises(ForgeError, match="owner/name"):
        GitHub("not a repo", FAKE_TOKEN)
    with pytest.raises(ForgeError, match="token is required"):
        GitHub("a/b", "")


# --- pull requests and auto-merge --------------------------------------------------------------


def test_create_pull_request_then_reuse_it(github_fake: GitHubFake) -> None:
    gh = github_fake.client()
    pr = gh.create_pull_request(head="promote/stage", base="main", title="Promote", body="b")
    assert pr == PullRequest(
        number=1,
        url="https://github.com/thedataenginex/dex/pull/1",
        head="promote/stage",
        base="main",
        created=True,
        node_id="PR_kwDO0001",
    )
    again = gh.create_pull_request(head="promote/stage", base="main", title="Promote", body="b")
    assert again.number == 1
    assert not again.created
    assert github_fake.calls() == [f"POST {PULLS}", f"POST {PULLS}", f"GET {PULLS}"]
    assert github_fake.requests[2].query == {
        "state": "open",
        "head": "thedataenginex:promote/stage",
        "base": "main",
    }
    assert github_fake.requests[0].body == {
        "title": "Promote",
        "head": "promote/stage",
        "base": "main",
        "body": "b",
    }


def test_open_pull_request(github_fake: GitHubFake) -> None:
    gh = github_fake.client()
    assert gh.open_pull_request("feature", "main") is None
    github_fake.add_pull("feature", "main")
    found = gh.open_pull_request("feature", "main")
    assert found is not None
    assert (found.number, found.head, found.base, found.created) == (1, "feature", "main", False)
    assert gh.open_pull_request("feature", "dev") is None


def test_pull_request_422_without_an_open_one_is_an_error(github_fake: GitHubFake) -> None:
    github_fake.fail(
        422,
        method="POST",
        json_body={
            "message": "Validation Failed",
            "errors": [{"code": "custom", "message": "No commits between main and x"}],
        },
    )
    with pytest.raises(ForgeError, match="No commits between main and x"):
        github_fake.client().create_pull_request(head="x", base="main", title="t", body="")


def test_enable_auto_merge_sends_the_graphql_mutation(github_fake: GitHubFake) -> None:
    gh = github_fake.client()
    pr = gh.create_pull_request(head="b", base="main", title="t", body="")
    gh.enable_auto_merge(pr)
    graphql = github_fake.requests[-1]
    assert graphql.line == "POST /graphql"
    assert "enablePullRequestAutoMerge" in graphql.body["query"]
    assert graphql.body["variables"] == {"pullRequestId": pr.node_id, "mergeMethod": "SQUASH"}
    assert github_fake.pulls[1]["auto_merge"] == {"merge_method": "squash"}


def test_enable_auto_merge_fetches_a_missing_node_id(github_fake: GitHubFake) -> None:
    github_fake.add_pull("b", "main")
    gh = github_fake.client()
    gh.enable_auto_merge(PullRequest(1, "u", "b", "main", created=False), method="MERGE")
    assert github_fake.calls() == [f"GET {PULLS}/1", "POST /graphql"]
    assert github_fake.pulls[1]["auto_merge"] == {"merge_method": "merge"}


def test_enable_auto_merge_graphql_error(github_fake: GitHubFake) -> None:
    gh = github_fake.client()
    pr = gh.create_pull_request(head="b", base="main", title="t", body="")
    github_fake.graphql_errors.append("Pull request is in clean status")
    with pytest.raises(ForgeError, match="#1: Pull request is in clean status"):
        gh.enable_auto_merge(pr)
    with pytest.raises(ForgeError, match="merge method"):
        gh.enable_auto_merge(pr, method="OCTOPUS")


def test_graphql_url_for_enterprise(github_fake: GitHubFake) -> None:
    from dexops.adapters.github import _graphql_url

    assert _graphql_url("https://api.github.com") == "https://api.github.com/graphql"
    assert _graphql_url("https://ghe.example.com/api/v3") == "https://ghe.example.com/api/graphql"


# --- configuration from the environment ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/TheDataEngineX/DEX.git", "TheDataEngineX/DEX"),
        ("https://github.com/thedataenginex/dex", "thedataenginex/dex"),
        ("https://x-access-token:abc@github.com/o/r.git", "o/r"),
        ("git@github.com:o/r.git", "o/r"),
        ("ssh://git@github.com/o/r.git", "o/r"),
        ("ssh://git@github.com:22/o/r", "o/r"),
        ("/tmp/origin.git", None),
        ("file:///tmp/o/r.git", None),
        ("../origin", None),
        ("https://github.com/only-owner", None),
    ],
)
def test_repository_from_url(url: str, expected: str | None) -> None:
    assert repository_from_url(url) == expected


def test_github_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = init_repo(tmp_path / "w", tmp_path / "o.git")
    git = Git(repo.path)
    assert github_from_env(git) is None  # no token: no client
    monkeypatch.setenv("GH_TOKEN", "ghp_from_gh_token_var")
    with pytest.raises(ForgeError, match="set GITHUB_REPOSITORY"):
        github_from_env(git)  # a local-path origin names no GitHub repository
    repo.git("remote", "set-url", "origin", "git@github.com:acme/mono.git")
    gh = github_from_env(git)
    assert gh is not None
    assert (gh.repository, gh.api_url) == ("acme/mono", "https://api.github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/other")
    monkeypatch.setenv("GITHUB_API_URL", "https://ghe.example.com/api/v3/")
    gh = github_from_env(git)
    assert gh is not None
    assert (gh.repository, gh.api_url) == ("acme/other", "https://ghe.example.com/api/v3")


def test_token_is_registered_as_a_secret() -> None:
    from dexops.secrets import mask

    GitHub("a/b", "ghp_registeredSecret42")
    assert mask("auth ghp_registeredSecret42") == "auth ***"


def test_rate_limit_that_never_lifts_is_bounded(github_fake: GitHubFake) -> None:
    github_fake.rate_limit(status=429, retry_after=1, times=10)
    with pytest.raises(ForgeError, match=r"rate limit still hit on GET .* after 3 attempts"):
        github_fake.client(attempts=3).release_for_tag("v1")
    assert github_fake.sleeps == [1.0, 1.0]
