"""The redis extra is optional: the core imports and works without it."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_the_core_imports_without_redis() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["redis"] = None  # as if the extra were not installed
        import b24async
        from b24async import Bitrix24
        b24 = Bitrix24("http://127.0.0.1:1/rest/1/code/")
        try:
            Bitrix24("http://127.0.0.1:1/rest/1/code/", shared="redis://127.0.0.1:1/0")
        except ImportError as exc:
            print(exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert "pip install 'b24async[redis]'" in out


def test_events_and_their_token_stores_import_without_redis() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["redis"] = None  # as if the extra were not installed
        from b24async.events import EventReceiver, MemoryTokenStore
        from b24async.shared import RedisTokenStore
        EventReceiver(lambda event: None, tokens=MemoryTokenStore())
        try:
            RedisTokenStore("redis://127.0.0.1:1/0", app="local.app")
        except ImportError as exc:
            print(exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert "pip install 'b24async[redis]'" in out
