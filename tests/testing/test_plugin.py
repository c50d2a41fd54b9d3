"""The pytest plugin's fixtures, run in a separate pytest without any other plugin."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import b24async.testing

ROOT = Path(b24async.testing.__file__).resolve().parents[2]

TESTS = """
import json
import sys
import urllib.request

from b24async.testing import FakePortal


def _me(url):
    with urllib.request.urlopen(url + "user.current", timeout=10) as response:
        return json.loads(response.read())["result"]["ID"]


def test_no_async_plugin_needed():
    assert "pytest_asyncio" not in sys.modules


def test_fake_portal(fake_portal):
    assert isinstance(fake_portal, FakePortal)
    assert fake_portal.state.user_exists(50) and not fake_portal.state.user_exists(51)
    assert _me(fake_portal.webhook_url) == "1"


def test_factory(fake_portal_factory):
    small = fake_portal_factory(users=3, seed=9)
    other = fake_portal_factory(burst=1)
    assert small.url != other.url
    assert _me(small.add_webhook(3)) == "3"
    assert other.state.user_exists(50)
    pytest_portals.extend([small, other])


pytest_portals = []


def test_factory_portals_were_stopped():
    assert len(pytest_portals) == 2
    for portal in pytest_portals:
        try:
            portal.url
        except RuntimeError:
            continue
        raise AssertionError("a factory portal is still running")
"""


def test_fixtures_in_a_plain_pytest(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_uses_plugin.py").write_text(textwrap.dedent(TESTS))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only the plugin under test is loaded
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(tmp_path / "pytest.ini"),
            "-p",
            "b24async.testing.plugin",
            "-p",
            "no:cacheprovider",
            "-q",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


LAZY_CHECK = """
import sys
import b24async.testing.plugin as plugin

assert callable(plugin.fake_portal) and callable(plugin.fake_portal_factory)
loaded = sorted(m for m in sys.modules if m.startswith("b24async.testing."))
assert loaded == ["b24async.testing.plugin"], loaded

from b24async.testing import FakePortal  # the package's names still work, on first use

assert FakePortal.__module__ == "b24async.testing.portal"
assert "b24async.testing.portal" in sys.modules
print("ok")
"""


def test_importing_the_plugin_does_not_import_the_portal() -> None:
    # A fresh interpreter: in this one, the suite has long imported the portal.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", LAZY_CHECK],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_package_names_are_lazy_but_complete() -> None:
    for name in b24async.testing.__all__:
        assert getattr(b24async.testing, name).__name__ == name
        assert name in dir(b24async.testing)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        b24async.testing.Nope  # noqa: B018
