from __future__ import annotations

import hashlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from dexops.domain.distributions import (
    DistFile,
    IndexFile,
    compare_with_index,
    files_of_release,
    importable_tops,
    metadata_problems,
    parse_core_metadata,
    parse_dist_filename,
    sdist_problems,
    sha256_hex,
    stray_files,
    wheel_problems,
)
from dexops.errors import PackageError

# The example library's archives, as hatchling builds them.
WHEEL = [
    "dataenginex/__init__.py",
    "dataenginex-0.4.10.dist-info/METADATA",
    "dataenginex-0.4.10.dist-info/WHEEL",
    "dataenginex-0.4.10.dist-info/RECORD",
]
SDIST = [
    "dataenginex-0.4.10/.gitignore",
    "dataenginex-0.4.10/CHANGELOG.md",
    "dataenginex-0.4.10/PKG-INFO",
    "dataenginex-0.4.10/README.md",
    "dataenginex-0.4.10/pyproject.toml",
    "dataenginex-0.4.10/src/dataenginex/__init__.py",
]
DIST_INFO = "dataenginex-0.4.10.dist-info"


def test_file_names_say_project_version_and_kind() -> None:
    wheel = parse_dist_filename("Data_Engine-1.0rc1-py3-none-any.whl")
    assert (wheel.project, wheel.version, wheel.kind) == ("data-engine", Version("1.0rc1"), "wheel")
    sdist = parse_dist_filename("data_engine-2.0.post1.tar.gz")
    assert (sdist.project, sdist.version, sdist.kind) == (
        "data-engine",
        Version("2.0.post1"),
        "sdist",
    )


@pytest.mark.parametrize(
    "name", ["dataenginex-0.4.10.zip", "dataenginex.whl", "nover.tar.gz", "x-1.0-py3.whl"]
)
def test_bad_file_names_are_one_line_errors(name: str) -> None:
    with pytest.raises(
        PackageError, match=r"is (not a valid distribution file name|neither a wheel)"
    ):
        parse_dist_filename(name)


names = st.from_regex(r"[a-z][a-z0-9]{0,8}(_[a-z0-9]{1,5}){0,2}", fullmatch=True)
versions = st.builds(
    lambda major, minor, pre: f"{major}.{minor}{pre}",
    st.integers(0, 99),
    st.integers(0, 99),
    st.sampled_from(["", "rc1", "a2", "b3", ".post1", ".dev4"]),
)


@given(names, versions)
def test_sdist_and_wheel_names_round_trip(name: str, version: str) -> None:
    sdist = parse_dist_filename(f"{name}-{version}.tar.gz")
    wheel = parse_dist_filename(f"{name}-{version}-py3-none-any.whl")
    assert sdist.project == wheel.project == name.replace("_", "-")
    assert sdist.version == wheel.version == Version(version)


@given(st.binary(max_size=4096), st.lists(st.integers(0, 4096), max_size=5))
def test_digest_does_not_depend_on_chunking(data: bytes, cuts: list[int]) -> None:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    assert sha256_hex(chunks) == hashlib.sha256(data).hexdigest()


def test_metadata_must_name_the_project_and_its_version() -> None:
    text = "Metadata-Version: 2.4\nName: DataEngineX\nVersion: 0.4.10\n\nbody\n"
    metadata = parse_core_metadata(text)
    assert metadata.metadata_version == "2.4"
    # Names compare as PEP 503 names; versions as PEP 440 versions.
    assert (
        metadata_problems(metadata, name="dataenginex", version=Version("0.4.10.0"), where="M")
        == []
    )
    assert metadata_problems(metadata, name="careerdex", version=Version("0.4.11"), where="M") == [
        "M names 'DataEngineX', pyproject names 'careerdex'",
        "M says version 0.4.10, pyproject says 0.4.11",
    ]
    empty = parse_core_metadata("Metadata-Version: 2.4\n")
    assert metadata_problems(empty, name="x", version=Version("1"), where="M") == [
        "M has no Name",
        "M has no Version",
    ]


def test_stray_rules_catch_tests_caches_and_vcs_files() -> None:
    members = [
        "pkg/__init__.py",
        "pkg/tests/test_x.py",
        "tests/test_y.py",
        "pkg/__pycache__/mod.cpython-311.pyc",
        "pkg/old.pyc",
        ".git/config",
        "pkg/.DS_Store",
        "conftest.py",
        ".gitignore",  # hatchling ships it on purpose
        "pkg/testsuite.py",  # a module that merely starts with "test"
        "pkg/contest.py",
        ".pytest_cache/v/cache/nodeids",
    ]
    assert stray_files(members) == [
        ".git/config",
        ".pytest_cache/v/cache/nodeids",
        "conftest.py",
        "pkg/.DS_Store",
        "pkg/__pycache__/mod.cpython-311.pyc",
        "pkg/old.pyc",
        "pkg/tests/test_x.py",
        "tests/test_y.py",
    ]
    allowed = stray_files(members, allow=["tests/**", "conftest.py"])
    assert "tests/test_y.py" not in allowed
    assert "pkg/tests/test_x.py" not in allowed  # `tests/**` allows tests at any depth
    assert "conftest.py" not in allowed
    assert "pkg/old.pyc" in allowed


@given(st.lists(st.from_regex(r"[a-z._]{1,6}(/[a-z._]{1,6}){0,3}", fullmatch=True), max_size=20))
def test_allowing_everything_leaves_no_strays(members: list[str]) -> None:
    assert stray_files(members, allow=["*"]) == []
    assert set(stray_files(members)) <= set(members)


def test_the_example_archives_pass() -> None:
    assert importable_tops(WHEEL) == ["dataenginex"]
    assert wheel_problems(WHEEL, dist_info=DIST_INFO, allow=()) == []
    assert sdist_problems(SDIST, root="dataenginex-0.4.10", wheel_names=WHEEL, allow=()) == []


def test_archive_problems_are_named() -> None:
    wheel = [n for n in WHEEL if not n.endswith("RECORD")] + ["dataenginex/tests/test_core.py"]
    assert wheel_problems(wheel, dist_info=DIST_INFO, allow=()) == [
        f"wheel lacks {DIST_INFO}/RECORD",
        "wheel holds stray files: dataenginex/tests/test_core.py",
    ]
    assert wheel_problems(WHEEL[1:], dist_info=DIST_INFO, allow=()) == [
        "wheel installs no Python module or package"
    ]
    sdist = [n for n in SDIST if not n.endswith("__init__.py")] + ["dataenginex-0.4.10/.git/HEAD"]
    assert sdist_problems(sdist, root="dataenginex-0.4.10", wheel_names=WHEEL, allow=()) == [
        "sdist lacks sources the wheel installs: dataenginex/__init__.py",
        "sdist holds stray files: .git/HEAD",
    ]
    assert sdist_problems(
        [*SDIST, "other/x.py"], root="dataenginex-0.4.10", wheel_names=WHEEL, allow=()
    ) == ["sdist members do not all live under dataenginex-0.4.10/"]


def test_wheel_modules_and_purelib_data_are_importable() -> None:
    names = ["single.py", "ext.cpython-311-x86_64-linux-gnu.so", "x-1.data/purelib/viadata/a.py"]
    assert importable_tops(names) == ["ext", "single", "viadata"]


def _dist(name: str, digest: str) -> DistFile:
    return DistFile(name, "sdist" if name.endswith(".gz") else "wheel", 10, digest)


def test_a_build_is_compared_with_the_index_by_name_and_digest() -> None:
    built = [_dist("d-1.0.tar.gz", "aa"), _dist("d-1.0-py3-none-any.whl", "bb")]
    assert [c.status for c in compare_with_index(built, [])] == ["upload", "upload"]
    partial = [IndexFile("d-1.0-py3-none-any.whl", "u", "bb")]
    assert [c.status for c in compare_with_index(built, partial)] == ["upload", "present"]
    other = [IndexFile("d-1.0.tar.gz", "u", "cc"), IndexFile("d-1.0-py3-none-any.whl", "u", "bb")]
    result = compare_with_index(built, other)
    assert [c.status for c in result] == ["conflict", "present"]
    assert result[0].index_sha256 == "cc"


def test_only_files_of_the_release_count() -> None:
    listed = [
        IndexFile("DataEngineX-0.4.10.tar.gz", "u", None),  # an old, unnormalised name
        IndexFile("dataenginex-0.4.10.0-py3-none-any.whl", "u", None),  # the same version
        IndexFile("dataenginex-0.4.11.tar.gz", "u", None),
        IndexFile("careerdex-0.4.10.tar.gz", "u", None),
        IndexFile("README.txt", "u", None),
    ]
    found = files_of_release(listed, "dataenginex", Version("0.4.10"))
    assert [f.filename for f in found] == [
        "DataEngineX-0.4.10.tar.gz",
        "dataenginex-0.4.10.0-py3-none-any.whl",
    ]
