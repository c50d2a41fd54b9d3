"""The pytest plugin's fixtures, run in a separate pytest without any other plugin."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

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
