"""The wheel and the sdist, built as a release would build them: license, contents, metadata.

Built with the hatchling installed in the test environment (``package`` dependency group), so
nothing is downloaded.
"""

from __future__ import annotations

import ast
import email
import re
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-d", str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def _wheel(dist: Path) -> zipfile.ZipFile:
    (wheel,) = dist.glob("*.whl")
    return zipfile.ZipFile(wheel)


def _sdist_names(dist: Path) -> list[str]:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        # Without the top folder (b24async-VERSION/).
        return [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]


def _metadata(dist: Path) -> Message:
    with _wheel(dist) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(wheel.read(name))


def test_the_license_ships_in_the_wheel_and_the_sdist(dist: Path) -> None:
    license_text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License")
    with _wheel(dist) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        assert wheel.read(name).decode("utf-8") == license_text
    assert "LICENSE" in _sdist_names(dist)
    metadata = _metadata(dist)
    assert metadata["License-Expression"] == "MIT"
    assert metadata["License-File"] == "LICENSE"


def test_the_sdist_has_the_source_but_no_benchmark_output_or_ci(dist: Path) -> None:
    names = _sdist_names(dist)
    for wanted in ("b24async/client.py", "tests/test_packaging.py", "examples/oauth_app.py"):
        assert wanted in names
    assert "benchmarks/run.py" in names  # the benchmark code, to run them again
    assert not [n for n in names if n.startswith(("benchmarks/results", ".ci/"))]
    (sdist,) = dist.glob("*.tar.gz")
    # It was ~1.1 MB with the benchmark output; the source alone is ~0.5 MB and grows with it.
    assert sdist.stat().st_size < 650_000


def test_classifiers_list_the_pythons_ci_tests(dist: Path) -> None:
    noxfile = (REPO / "noxfile.py").read_text(encoding="utf-8")
    match = re.search(r"^PYTHONS = (\[.*?\])", noxfile, re.MULTILINE)
    assert match, "noxfile.py names the tested versions in PYTHONS"
    tested = ast.literal_eval(match.group(1))
    classifiers = _metadata(dist).get_all("Classifier") or []
    listed = [c.rsplit(" :: ", 1)[1] for c in classifiers if re.fullmatch(r".*:: 3\.\d+", c)]
    assert listed == tested
    requires = _metadata(dist)["Requires-Python"]
    assert requires == f">={tested[0]}"


def test_the_index_page_description_has_no_dead_relative_links(dist: Path) -> None:
    payload = _metadata(dist).get_payload(decode=True)
    assert isinstance(payload, bytes)
    description = payload.decode("utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    relative = re.compile(r"\]\((?!https?://)[^)]*\)")
    assert relative.search(readme)  # the README links into the repository...
    assert not relative.search(description)  # ...which an index page cannot follow
    assert "benchmarks/results/throughput.png" in description  # said in words instead
    # Nothing else changed: every line without a link is the README's own.
    kept = [line for line in readme.splitlines() if "](" not in line]
    assert [line for line in description.splitlines() if line in kept] == kept
    assert _metadata(dist)["Description-Content-Type"] == "text/markdown"
